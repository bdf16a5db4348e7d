package load

import (
	"fmt"
	"os"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// run drives a through the loops due until end (seconds after t0), the
// queue's depth given by depth(second), and returns the replicas after each
// Step, by second.
func run(p Policy, end time.Duration, depth func(s float64) Depth) map[float64]int32 {
	a := NewAutoscaler(p, t0)
	got := map[float64]int32{}
	for now := a.Next(); now.Sub(t0) <= end; now = a.Next() {
		s := now.Sub(t0).Seconds()
		got[s] = a.Step(now, depth(s)).Replicas
	}
	return got
}

func prodPolicy(t *testing.T) Policy {
	t.Helper()
	b, err := os.ReadFile(renderedProd)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func defaultsPolicy(t *testing.T, edit func(*Policy)) Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(minimalSO))
	if err != nil {
		t.Fatal(err)
	}
	p.PollingInterval, p.MaxReplicas = 15*time.Second, 30
	if edit != nil {
		edit(&p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// drain is a queue of n messages from second from until second to, then
// empty; in flight messages count too.
func drain(n int64, from, to float64) func(float64) Depth {
	return func(s float64) Depth {
		if s < from || s >= to {
			return Depth{}
		}
		return Depth{Visible: n / 2, NotVisible: n - n/2}
	}
}

func TestAutoscaler(t *testing.T) {
	tests := []struct {
		name   string
		policy func(t *testing.T) Policy
		end    time.Duration
		depth  func(float64) Depth
		want   map[float64]int32 // replicas after the step at that second
	}{
		{
			// KEDA wakes 0 -> 1, then the HPA's defaults: +max(100%, 4 pods)
			// per 15 s: 1 -> 5 -> 10 -> 20 -> 30 (max).
			name:   "default ramp-up",
			policy: func(t *testing.T) Policy { return defaultsPolicy(t, nil) },
			end:    90 * time.Second, depth: drain(1000, 0, 1e9),
			want: map[float64]int32{0: 5, 15: 10, 30: 20, 45: 30, 60: 30, 90: 30},
		},
		{
			// The prod behaviour: +max(10 pods, 100%) per 15 s.
			name:   "prod ramp-up",
			policy: prodPolicy, end: 60 * time.Second, depth: drain(1000, 0, 1e9),
			want: map[float64]int32{0: 11, 15: 22, 30: 30, 45: 30},
		},
		{
			// 68 messages at queueLength 5: 14 replicas, not the maximum.
			name:   "desired is ceil(depth / queueLength)",
			policy: prodPolicy, end: 45 * time.Second, depth: drain(68, 0, 1e9),
			want: map[float64]int32{0: 11, 15: 14, 30: 14, 45: 14},
		},
		{
			// Within the 10% tolerance nothing moves: 52 / (5 × 10) = 1.04.
			name: "tolerance",
			policy: func(t *testing.T) Policy {
				return defaultsPolicy(t, func(p *Policy) { p.ScaleUp.Policies = []ScalingPolicy{{PolicyPods, 9, 15 * time.Second}} })
			},
			end: 30 * time.Second,
			depth: func(s float64) Depth {
				if s < 15 {
					return Depth{Visible: 50}
				}
				return Depth{Visible: 52}
			},
			want: map[float64]int32{0: 10, 15: 10, 30: 10},
		},
		{
			// The queue empties at 60 s with 30 replicas. Prod's scale-down
			// window (120 s) holds them until the last high recommendation
			// (45 s) leaves it (strictly: at 165 s); then at most 5 pods per
			// 60 s; KEDA takes them to 0 when the cooldown (300 s after the
			// last active poll at 45 s, strictly) is over, whatever the HPA had.
			name:   "stabilisation window, rate and cooldown to zero",
			policy: prodPolicy, end: 800 * time.Second, depth: drain(1000, 0, 60),
			want: map[float64]int32{
				45: 30, 60: 30, 150: 30, 165: 25, 180: 25, 210: 25,
				225: 20, 285: 15, 345: 10, 360: 0, 795: 0,
			},
		},
		{
			// HPA defaults: 300 s window, then 100% per 15 s: straight to the
			// floor of 1; KEDA's cooldown then takes it to 0.
			name:   "default scale-down",
			policy: func(t *testing.T) Policy { return defaultsPolicy(t, nil) },
			end:    600 * time.Second, depth: drain(100, 0, 40),
			want: map[float64]int32{15: 10, 30: 20, 315: 20, 330: 1, 345: 0},
		},
		{
			// A dip of one sample does not scale down within the window.
			name:   "short dip held by the window",
			policy: prodPolicy, end: 120 * time.Second,
			depth: func(s float64) Depth {
				if s == 60 {
					return Depth{}
				}
				return Depth{Visible: 100}
			},
			want: map[float64]int32{30: 20, 60: 20, 75: 20, 120: 20},
		},
		{
			// activationQueueLength 10: 10 messages do not wake it; 11 do.
			name: "activation",
			policy: func(t *testing.T) Policy {
				return defaultsPolicy(t, func(p *Policy) { p.Activation = 10 })
			},
			end: 60 * time.Second,
			depth: func(s float64) Depth {
				if s < 30 {
					return Depth{Visible: 10}
				}
				return Depth{Visible: 11}
			},
			want: map[float64]int32{0: 0, 15: 0, 30: 3, 45: 3},
		},
		{
			// In-flight messages count only with scaleOnInFlight.
			name: "scaleOnInFlight false",
			policy: func(t *testing.T) Policy {
				return defaultsPolicy(t, func(p *Policy) { p.ScaleOnInFlight = false })
			},
			end:   30 * time.Second,
			depth: func(float64) Depth { return Depth{Visible: 0, NotVisible: 100} },
			want:  map[float64]int32{0: 0, 15: 0, 30: 0},
		},
		{
			// minReplicaCount 2: never below 2, even idle.
			name: "minReplicaCount",
			policy: func(t *testing.T) Policy {
				return defaultsPolicy(t, func(p *Policy) { p.MinReplicas = 2 })
			},
			end: 700 * time.Second, depth: drain(100, 0, 30),
			want: map[float64]int32{0: 6, 15: 12, 30: 12, 300: 12, 315: 2, 690: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(tt.policy(t), tt.end, tt.depth)
			for s, want := range tt.want {
				g, ok := got[s]
				if !ok {
					t.Errorf("no step at %gs", s)
					continue
				}
				if g != want {
					t.Errorf("at %gs: %d replicas, want %d (timeline %s)", s, g, want, timeline(got))
				}
			}
		})
	}
}

func timeline(m map[float64]int32) string {
	s, last := "", int32(-1)
	for sec := 0.0; sec <= 3600; sec += 15 {
		if v, ok := m[sec]; ok && v != last {
			s += fmt.Sprintf(" %g:%d", sec, v)
			last = v
		}
	}
	return s
}

// Shortening every constant by one ratio gives the same replicas at the
// same scaled times: the harness's runs are the manifest's rules, faster.
func TestAutoscalerRatio(t *testing.T) {
	p := prodPolicy(t)
	full := run(p, 800*time.Second, drain(1000, 0, 60))
	const ratio = 15
	q, err := p.Shorten(ratio)
	if err != nil {
		t.Fatal(err)
	}
	short := run(q, 800*time.Second/ratio, func(s float64) Depth { return drain(1000, 0, 60)(s * ratio) })
	if len(short) != len(full) {
		t.Fatalf("%d steps shortened, %d in full", len(short), len(full))
	}
	for s, v := range full {
		if short[s/ratio] != v {
			t.Errorf("at %gs (%gs shortened): %d, want %d", s, s/ratio, short[s/ratio], v)
		}
	}
}

// A Step between the loops' times changes nothing and reports no metric.
func TestAutoscalerBetweenLoops(t *testing.T) {
	a := NewAutoscaler(prodPolicy(t), t0)
	if d := a.Step(t0, Depth{Visible: 100}); d.Replicas != 11 || d.Reason == "" || d.Metric != 100 {
		t.Fatalf("first step: %+v", d)
	}
	if d := a.Step(t0.Add(5*time.Second), Depth{Visible: 1000}); d.Replicas != 11 || d.Reason != "" || d.Metric != 0 {
		t.Fatalf("between loops: %+v", d)
	}
	if n := a.Next(); !n.Equal(t0.Add(15 * time.Second)) {
		t.Fatalf("next %s", n)
	}
}
