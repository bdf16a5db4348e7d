package awssim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// tokenCodec makes NextTokens that carry their own position and are
// MAC-ed with a key of this process, so that awssim can tell a token it
// never gave (InvalidNextTokenException) without remembering the tokens it
// gave.
type tokenCodec struct{ key []byte }

func newTokenCodec() tokenCodec {
	k := make([]byte, 32)
	rand.Read(k)
	return tokenCodec{key: k}
}

// encode binds a position to the listing it belongs to (scope: operation,
// account, region, parent or rule).
func (t tokenCodec) encode(scope string, offset, page int) string {
	payload := strconv.Itoa(offset) + "." + strconv.Itoa(page)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + t.mac(scope, payload)
}

func (t tokenCodec) decode(scope, token string) (offset, page int, ok bool) {
	p, mac, found := strings.Cut(token, ".")
	if !found {
		return 0, 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || !hmac.Equal([]byte(mac), []byte(t.mac(scope, string(raw)))) {
		return 0, 0, false
	}
	o, pg, found := strings.Cut(string(raw), ".")
	if !found {
		return 0, 0, false
	}
	offset, err1 := strconv.Atoi(o)
	page, err2 := strconv.Atoi(pg)
	if err1 != nil || err2 != nil || offset < 0 || page < 0 {
		return 0, 0, false
	}
	return offset, page, true
}

func (t tokenCodec) mac(scope, payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}
