package scan

import "math"

// Accounts in hand. A scanner's calls in flight are bounded by
// -concurrency, but an account in hand mostly waits: on the latency of
// its sequential calls, and under throttling on its account-regions'
// pacing (each at the rate AWS admits for it, 1 call/s in the load runs,
// so a region's handful of calls takes seconds). Waiting holds no call
// slot (internal/awsconf), so the slots stay busy only when many more
// account-regions are in progress than there are slots: the accounts in
// hand are bounded by memory, not by -concurrency.
const (
	// RegionMemory is what one region of an account in hand costs while
	// it waits: its Config client, its goroutine's stack at the SDK's
	// depth and the request of the attempt it waits to make. Measured
	// (BenchmarkAccountInFlightMemory, heap and stacks in use, 400
	// accounts waiting on throttling): 166 KiB per account in 2 regions,
	// 316 KiB in 4, so some 77 KiB a region; rounded up.
	RegionMemory = 96 << 10
	// AccountMemory is the rest of an account in hand: its message, its
	// consumer's goroutine and receive loop, its credentials (some 64 KiB
	// in all) and its result once read: a real account has a few thousand
	// findings, taken as 2,000 at some 300 bytes each in memory and 280 of
	// JSON while the result is published (1.2 MiB in all). An account with
	// hundreds of thousands costs more (up to 150 MB at the -max-findings
	// default): the share of the memory limit left to the rest of the
	// process is what absorbs one.
	AccountMemory = 64<<10 + 2000*(300+280)
	// AccountsShare is the part of the memory limit given to accounts in
	// hand; the rest is the process itself (some 40 MiB), the GC's
	// headroom and an outsized result.
	AccountsShare = 0.5
	// MaxConsumers caps the accounts in hand whatever the memory and
	// -concurrency.
	MaxConsumers = 1024
	// SlotMultiple caps the accounts in hand at this many per call slot.
	// More accounts than the slots and the CPU can serve add no
	// throughput, only latency to each (Little's law), and an account in
	// hand longer is one more a scale-down's SIGTERM catches mid-scan.
	// Measured at full size (5,000 accounts x 4 regions, 1 call/s per
	// account-region, 30 scanners at -concurrency 16 on two cores, 2026-12-07;
	// docs/BENCHMARKS.md): 16 a scanner 94.4 s (machine 56% busy, an
	// account 7.4 s), 48 a scanner 65.1 s (82% busy, 13.2 s), 149 (the
	// memory bound) 86.3 s (an account 23.9 s, its results late and
	// stragglers at the scale-down). With AWS's own latency (~100 ms, not
	// awssim's 20 ms) a slot serves fewer calls, so 3 per slot keeps 4
	// regions at 1 call/s busy on the slots: 48 x 4 x 1 x 0.1 s = 19 slots' worth.
	SlotMultiple = 3
)

// Consumers is how many scan requests a scanner handles at once when
// -consumers is not given: as many accounts in hand as AccountsShare of
// memLimit holds, each costing AccountMemory + regions × RegionMemory,
// at most SlotMultiple × concurrency and MaxConsumers, at least
// concurrency (one account per call slot, the bound before). memLimit is the Go memory limit (cli.MemoryLimit
// sets it from the container's); math.MaxInt64 or <= 0, no limit known (a
// laptop, the load harness), gives concurrency, as before: a bound from a
// guessed memory would multiply the receive loops of a fleet not sized
// for them. With the deployment's 512 MiB container (460.8 MiB Go limit)
// memory holds 140 accounts in 5 regions, 169 in 2; at -concurrency 16
// the slots cap both at 48.
func Consumers(memLimit int64, concurrency, regions int) int {
	concurrency = max(concurrency, 1)
	if memLimit <= 0 || memLimit == math.MaxInt64 {
		return concurrency
	}
	per := int64(AccountMemory) + int64(max(regions, 1))*RegionMemory
	n := int64(float64(memLimit)*AccountsShare) / per
	return int(max(int64(concurrency), min(n, int64(SlotMultiple*concurrency), MaxConsumers)))
}
