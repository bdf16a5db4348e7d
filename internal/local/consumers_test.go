package local

import (
	"math"
	"testing"
)

// TestAccountsInHand: local mode's scanner holds as many accounts as the
// memory limit allows (scan.Consumers), more than its call slots at
// cmd/local's 512 MiB, so that a freed slot always has a call waiting;
// -concurrency when no limit is known or the memory holds fewer.
func TestAccountsInHand(t *testing.T) {
	cases := []struct {
		name                 string
		concurrency, regions int
		memLimit             int64
		want                 int
	}{
		{"cmd/local's 512 MiB, 2 regions", 64, 2, 512 << 20, 188},
		{"512 MiB, 4 regions", 64, 4, 512 << 20, 165},
		{"512 MiB, -concurrency above what it holds", 256, 2, 512 << 20, 256},
		{"a small limit", 64, 2, 64 << 20, 64},
		{"no limit (GOMEMLIMIT=off)", 64, 2, math.MaxInt64, 64},
		{"-concurrency 1 at 512 MiB", 1, 2, 512 << 20, 188},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := accountsInHand(c.concurrency, c.regions, c.memLimit); got != c.want {
				t.Errorf("accountsInHand(%d, %d, %d) = %d, want %d", c.concurrency, c.regions, c.memLimit, got, c.want)
			}
		})
	}
}
