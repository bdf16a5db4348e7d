package report

import (
	"strings"
	"unicode/utf8"
)

// Excel refuses cells longer than 32,767 characters and counts them in
// UTF-16 code units, so a character outside the BMP (an emoji in a tag
// value, say) counts twice.
const (
	maxCellUnits = 32767
	truncMarker  = " …[truncated]"
	maxColWidth  = 80
	minColWidth  = 8
)

// utf16Len counts UTF-16 code units; invalid UTF-8 is counted as the U+FFFD
// it becomes on output.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// cellText prepares a value taken from AWS for a text cell: invalid UTF-8
// replaced, and text over Excel's limit cut on a character boundary so that,
// with truncMarker appended, it fits maxCellUnits. When the boundary falls
// inside a surrogate pair the pair is dropped whole and the result is one
// unit short of the limit.
func cellText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= maxCellUnits || utf16Len(s) <= maxCellUnits {
		// len(s) bytes >= UTF-16 units, so short byte strings are safe.
		return s
	}
	budget := maxCellUnits - utf16Len(truncMarker)
	units := 0
	for i, r := range s {
		n := 1
		if r >= 0x10000 {
			n = 2
		}
		if units+n > budget {
			return s[:i] + truncMarker
		}
		units += n
	}
	return s // unreachable: the loop cuts before the end
}

// textWidth estimates the width a value needs in Excel's character units:
// the longest line, wide (East Asian, emoji) characters counting two.
func textWidth(s string) int {
	best, cur := 0, 0
	for _, r := range s {
		if r == '\n' {
			best, cur = max(best, cur), 0
			continue
		}
		if isWide(r) {
			cur += 2
		} else {
			cur++
		}
	}
	return max(best, cur)
}

func isWide(r rune) bool {
	return r >= 0x1100 && (r <= 0x115f || r == 0x2329 || r == 0x232a ||
		(r >= 0x2e80 && r <= 0xa4cf && r != 0x303f) ||
		(r >= 0xac00 && r <= 0xd7a3) ||
		(r >= 0xf900 && r <= 0xfaff) ||
		(r >= 0xfe30 && r <= 0xfe6f) ||
		(r >= 0xff00 && r <= 0xff60) ||
		(r >= 0xffe0 && r <= 0xffe6) ||
		(r >= 0x1f300 && r <= 0x1faff) ||
		(r >= 0x20000 && r <= 0x3fffd))
}

// widths tracks the widest content of each column of one table.
type widths []int

func newWidths(headers []string) widths {
	w := make(widths, len(headers))
	for i, h := range headers {
		// Room for the auto-filter drop-down button over the header text.
		w[i] = textWidth(h) + 3
	}
	return w
}

func (w widths) see(col int, chars int) {
	if chars > w[col] {
		w[col] = chars
	}
}

// width is the column width to set: content plus a little padding, capped.
func (w widths) width(col int) float64 {
	return float64(min(max(w[col]+2, minColWidth), maxColWidth))
}
