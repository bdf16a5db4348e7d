package jsontext

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// cases are every byte value alone and between letters, the special runes,
// and random strings of bytes (invalid UTF-8 included).
func cases() []string {
	cs := []string{"", "plain", "<&>", "\"q\"\\", "\u2028\u2029", "caf\u00e9", "\x7f\x80\xff", "\xe2\x80", "\xf0\x9f\x98\x80", "\U0010FFFF", "\xed\xa0\x80",
		"tab\tnl\ncr\r\x00\x1f", "ünï😀", "a\u2028b\u2029c", "bad\xffutf8"}
	for b := range 256 {
		cs = append(cs, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "<", "\"", "\\", "\n", "\b", "\f", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "\xe2", "\x80", "\xa8", "é", "日", "😀", "\xff"}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		cs = append(cs, b.String())
	}
	return cs
}

// TestStdIsEncodingJSON: Std gives encoding/json.Marshal's bytes.
func TestStdIsEncodingJSON(t *testing.T) {
	for _, s := range cases() {
		got := AppendString([]byte("x"), s, Std)
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("%q (valid UTF-8: %v): got %s, want %s", s, utf8.ValidString(s), got[1:], want)
		}
	}
}

// TestMinimal: what Minimal writes decodes to the string (invalid UTF-8
// as U+FFFD), and it leaves alone what JSON does not need escaped.
func TestMinimal(t *testing.T) {
	for _, s := range cases() {
		b := AppendString(nil, s, Minimal)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %s does not decode: %v", s, b, err)
		}
		if want := perByte(s); got != want {
			t.Fatalf("%q: decoded %q", s, got)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"<&>", `"<&>"`},
		{"\b\f", `"\u0008\u000c"`},
		{"a\nb\tc\r", `"a\nb\tc\r"`},
		{"q\"b\\", `"q\"b\\"`},
		{"\u2028", `"\u2028"`},
		{"bad\xff", `"bad\ufffd"`},
	} {
		if got := string(AppendString(nil, tc.in, Minimal)); got != tc.want {
			t.Errorf("Minimal %q = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// perByte is s with every byte of invalid UTF-8 replaced by U+FFFD.
func perByte(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // ranging a string yields U+FFFD for each invalid byte
	}
	return b.String()
}

// TestBodyByParts: escaping valid parts one by one is escaping the whole.
func TestBodyByParts(t *testing.T) {
	parts := []string{"arn:aws:", "<x>", "\"q\"", "日本", "\u2028"}
	for _, e := range []Escaping{Minimal, Std} {
		var byParts []byte
		for _, p := range parts {
			byParts = AppendBody(byParts, p, e)
		}
		if whole := AppendBody(nil, strings.Join(parts, ""), e); !bytes.Equal(byParts, whole) {
			t.Errorf("escaping %d: by parts %s, whole %s", e, byParts, whole)
		}
	}
}
