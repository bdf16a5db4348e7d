package jira

import (
	"strconv"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name string
		rows []int
		want string
	}{
		{"no rows: the empty line", nil, "\nh3. H\nNone.\n"},
		{"rows under the header", []int{1, 22}, "\nh3. H\n||N||\n|1|\n|22|\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeTable(&b, "H", "None.", "||N||", tt.rows, func(n int) string { return "|" + strconv.Itoa(n) + "|" })
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}
