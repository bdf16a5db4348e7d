// Package jsontext appends JSON string literals to a byte slice, for the
// writers that build JSON by hand on a hot path (the findings file, the
// simulator's answers) instead of through encoding/json's reflection.
package jsontext

import "unicode/utf8"

// Escaping says how much of a string is escaped beyond what JSON needs.
type Escaping int

const (
	// Minimal escapes quotes, backslashes and control characters (\n, \r,
	// \t short, the others as \u00XX), U+2028 and U+2029 (for JavaScript
	// readers), and writes invalid UTF-8 as \ufffd.
	Minimal Escaping = iota
	// Std is encoding/json.Marshal's own escaping, byte for byte: Minimal,
	// plus <, > and & as \u003c, \u003e, \u0026, and \b, \f short.
	Std
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, quotes included.
func AppendString(dst []byte, s string, e Escaping) []byte {
	dst = append(dst, '"')
	dst = AppendBody(dst, s, e)
	return append(dst, '"')
}

// AppendBody appends s escaped, without the quotes: escaping valid UTF-8
// parts one by one gives the bytes of escaping their concatenation, so a
// string can be written from its parts.
func AppendBody(dst []byte, s string, e Escaping) []byte {
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe(b, e) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch {
			case b == '\\' || b == '"':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			case b == '\t':
				dst = append(dst, '\\', 't')
			case b == '\b' && e == Std:
				dst = append(dst, '\\', 'b')
			case b == '\f' && e == Std:
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// safe tells whether an ASCII byte is written as it is.
func safe(b byte, e Escaping) bool {
	if b < 0x20 || b == '"' || b == '\\' {
		return false
	}
	return e != Std || b != '<' && b != '>' && b != '&'
}
