package scan

import (
	"math"
	"testing"
)

func TestConsumers(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name                 string
		memLimit             int64
		concurrency, regions int
		want                 int
	}{
		// 512 MiB container: Go limit 460.8 MiB, half of it at 1.2 MiB
		// an account + 96 KiB a region.
		// 512 MiB container: Go limit 460.8 MiB, half of it at 1.2 MiB
		// an account + 96 KiB a region: 140 in 5 regions, 169 in 2,
		// capped by the slots (3 a slot).
		{"deployment, 5 regions: the slots bound", 512 * mib * 9 / 10, 16, 5, 48},
		{"deployment, 2 regions: the slots bound", 512 * mib * 9 / 10, 16, 2, 48},
		{"deployment, many slots: memory bounds", 512 * mib * 9 / 10, 64, 5, 140},
		{"no limit known: -concurrency, as before", math.MaxInt64, 16, 5, 16},
		{"zero: none known", 0, 20, 2, 20},
		{"small container: never under -concurrency", 64 * mib, 64, 5, 64},
		{"large container: the slots cap", 8 << 30, 16, 2, 48},
		{"large container, many slots: capped", 8 << 30, 1000, 2, MaxConsumers},
		{"concurrency above the cap wins", 8 << 30, 2000, 2, 2000},
		{"no regions counts one", 100 * mib, 16, 0, 39},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Consumers(tt.memLimit, tt.concurrency, tt.regions); got != tt.want {
				t.Errorf("Consumers(%d, %d, %d) = %d, want %d", tt.memLimit, tt.concurrency, tt.regions, got, tt.want)
			}
		})
	}
}
