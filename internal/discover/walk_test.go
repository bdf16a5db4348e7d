package discover_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newWalker(t testing.TB, api discover.API, cfg discover.Config) *discover.Walker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	w, err := discover.New(api, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// want is the ground truth of awssim, filtered and sorted as the walk
// must return it.
func want(env *discovertest.Env, keep func(awssim.Account) bool) []events.Account {
	var out []events.Account
	for _, a := range env.Active() {
		if keep == nil || keep(a) {
			out = append(out, events.Account{AccountID: ident.AccountID(a.ID), Name: a.Name, OUPath: a.OUPath})
		}
	}
	discover.SortAccounts(out)
	return out
}

func sameAccount(a, b events.Account) bool {
	return a.AccountID == b.AccountID && a.Name == b.Name && a.OUPath == b.OUPath && maps.Equal(a.Tags, b.Tags)
}

func diff(t *testing.T, got, want []events.Account) {
	t.Helper()
	if slices.EqualFunc(got, want, sameAccount) {
		return
	}
	g := map[ident.AccountID]events.Account{}
	for _, a := range got {
		g[a.AccountID] = a
	}
	n := 0
	for _, w := range want {
		if a, ok := g[w.AccountID]; !ok {
			t.Errorf("missing %+v", w)
			n++
		} else if !sameAccount(a, w) {
			t.Errorf("got %+v, want %+v", a, w)
			n++
		}
		delete(g, w.AccountID)
		if n > 10 {
			t.Fatalf("got %d accounts, want %d; more differences not shown", len(got), len(want))
		}
	}
	for _, a := range g {
		t.Errorf("unexpected %+v", a)
	}
	t.Fatalf("got %d accounts, want %d", len(got), len(want))
}

// TestWalkMatchesGroundTruth walks a 1,000-account org with the real SDK
// client: every listing of more than one page answers an empty second page
// with a token, so a walk that stops early drops accounts.
func TestWalkMatchesGroundTruth(t *testing.T) {
	env := discovertest.New(t, 1000)
	org := env.Sim.Org()
	// The test only means something if listings span several pages.
	perOU := map[string]int{}
	suspended := 0
	for _, a := range org.Accounts {
		perOU[a.OUPath]++
		if a.Status != awssim.StatusActive {
			suspended++
		}
	}
	if max := slices.Max(mapValues(perOU)); max <= 40 {
		t.Fatalf("largest OU has %d accounts: no listing spans 3 pages", max)
	}
	if suspended == 0 {
		t.Fatal("generated org has no SUSPENDED account")
	}

	for _, tc := range []struct {
		name string
		api  discover.API
	}{
		{"ambient hub identity", env.Orgs()},
		{"org-list role", env.OrgsAsListRole()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Sim.ResetStats()
			w := newWalker(t, tc.api, discover.Config{Concurrency: 3})
			got, st, err := w.List(discovertest.Ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			diff(t, got, want(env, nil))
			if st.Inactive != suspended || st.Kept != len(got) || st.Seen != len(org.Accounts) || st.Filtered != 0 {
				t.Errorf("stats %+v: want %d inactive, %d kept, %d seen", st, suspended, len(got), len(org.Accounts))
			}
			if st.OUs != len(org.OUs) {
				t.Errorf("stats: %d OUs walked, org has %d", st.OUs, len(org.OUs))
			}
			sim := env.Sim.Stats()
			if sim.Errors != 0 {
				t.Errorf("awssim answered %d errors", sim.Errors)
			}
			if sim.MaxInFlight > 3 {
				t.Errorf("max in flight %d, concurrency 3", sim.MaxInFlight)
			}
			orgCalls := int64(0)
			for _, op := range []string{"ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent"} {
				for _, n := range sim.Calls[op] {
					orgCalls += n
				}
			}
			// awssim counts attempts, the walk counts calls: the SDK may
			// retry a request whose keep-alive connection the server
			// closed (aws-sdk-go-v2 #2737), so allow a few more.
			if orgCalls < int64(st.Calls) || orgCalls > int64(st.Calls)+3 {
				t.Errorf("walk counted %d calls, awssim served %d", st.Calls, orgCalls)
			}
			for op := range sim.Calls {
				switch op {
				case "ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent", "AssumeRole":
				default:
					t.Errorf("walk called %s", op)
				}
			}
		})
	}
}

func mapValues(m map[string]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestWalkFilters(t *testing.T) {
	env := discovertest.New(t, 300)
	org := env.Sim.Org()
	some := env.Active()[10].ID
	prodLeaf := ""
	for _, ou := range org.OUs {
		if strings.HasPrefix(ou.Path, "Root/Workloads/Prod/") && strings.Count(ou.Path, "/") == 4 {
			prodLeaf = ou.Path
			break
		}
	}
	if prodLeaf == "" {
		t.Fatal("no 5-level OU in the generated org")
	}
	tests := []struct {
		name                     string
		incA, excA, incOU, excOU string
		keep                     func(awssim.Account) bool
		pruned                   bool
	}{
		{
			name: "include one OU subtree", incOU: "Root/Workloads/Prod",
			keep:   func(a awssim.Account) bool { return strings.HasPrefix(a.OUPath, "Root/Workloads/Prod/") },
			pruned: true,
		},
		{
			name: "exclude subtrees", excOU: "Root/Sandbox,Root/Workloads/NonProd",
			keep: func(a awssim.Account) bool {
				return !strings.HasPrefix(a.OUPath, "Root/Sandbox") && !strings.HasPrefix(a.OUPath, "Root/Workloads/NonProd")
			},
			pruned: true,
		},
		{
			name: "include a 5-level leaf", incOU: prodLeaf,
			keep:   func(a awssim.Account) bool { return a.OUPath == prodLeaf },
			pruned: true,
		},
		{
			name: "include accounts and an OU", incA: some + "," + org.ManagementAccountID, incOU: "Root/Security",
			keep: func(a awssim.Account) bool {
				return a.ID == some || a.ID == org.ManagementAccountID || a.OUPath == "Root/Security"
			},
		},
		{
			name: "exclude wins", incOU: "Root", excA: org.ManagementAccountID, excOU: "Root/Workloads",
			keep: func(a awssim.Account) bool {
				return a.ID != org.ManagementAccountID && !strings.HasPrefix(a.OUPath, "Root/Workloads")
			},
			pruned: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := discover.ParseFilter(tt.incA, tt.excA, tt.incOU, tt.excOU)
			if err != nil {
				t.Fatal(err)
			}
			w := newWalker(t, env.Orgs(), discover.Config{Filter: f})
			got, st, err := w.List(discovertest.Ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			exp := want(env, tt.keep)
			if len(exp) == 0 {
				t.Fatal("test keeps no account")
			}
			diff(t, got, exp)
			if tt.pruned && st.Pruned == 0 {
				t.Errorf("no OU pruned: %+v", st)
			}
		})
	}
}

// faulty wraps an API, counting calls in flight and failing chosen ones.
type faulty struct {
	discover.API
	inFlight, maxInFlight atomic.Int64
	delay                 time.Duration
	mu                    sync.Mutex
	failAccountsOf        string // parent id whose ListAccountsForParent fails
	err                   error
}

func (f *faulty) enter() func() {
	n := f.inFlight.Add(1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(f.delay)
	return func() { f.inFlight.Add(-1) }
}

func (f *faulty) ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	defer f.enter()()
	return f.API.ListOrganizationalUnitsForParent(ctx, in, optFns...)
}

func (f *faulty) ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	defer f.enter()()
	f.mu.Lock()
	fail := f.failAccountsOf != "" && aws.ToString(in.ParentId) == f.failAccountsOf
	f.mu.Unlock()
	if fail {
		return nil, f.err
	}
	return f.API.ListAccountsForParent(ctx, in, optFns...)
}

func TestWalkBoundsConcurrency(t *testing.T) {
	env := discovertest.New(t, 500)
	for _, c := range []int{1, 4} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			api := &faulty{API: env.Orgs(), delay: 2 * time.Millisecond}
			w := newWalker(t, api, discover.Config{Concurrency: c})
			if _, _, err := w.List(discovertest.Ctx(t)); err != nil {
				t.Fatal(err)
			}
			if got := api.maxInFlight.Load(); got > int64(c) {
				t.Errorf("%d calls in flight, bound %d", got, c)
			}
			if c > 1 && api.maxInFlight.Load() < 2 {
				t.Errorf("concurrency %d, but calls never overlapped", c)
			}
		})
	}
}

func TestWalkStopsOnAPIError(t *testing.T) {
	env := discovertest.New(t, 300)
	org := env.Sim.Org()
	boom := errors.New("AccessDeniedException: boom")
	api := &faulty{API: env.Orgs(), failAccountsOf: org.OUs[len(org.OUs)-1].ID, err: boom}
	w := newWalker(t, api, discover.Config{})
	got, _, err := w.List(discovertest.Ctx(t))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if !strings.Contains(err.Error(), org.OUs[len(org.OUs)-1].Path) {
		t.Errorf("error does not name the OU path: %v", err)
	}
	if got != nil {
		t.Errorf("a failed walk returned %d accounts", len(got))
	}
}

func TestWalkStopsWhenCallbackFails(t *testing.T) {
	env := discovertest.New(t, 1000)
	stop := errors.New("publisher gone")
	w := newWalker(t, env.Orgs(), discover.Config{})
	n := 0
	st, err := w.Walk(discovertest.Ctx(t), func(events.Account) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want %v", err, stop)
	}
	if n != 5 {
		t.Errorf("callback called %d times after failing at 5", n)
	}
	if st.Seen >= len(env.Sim.Org().Accounts) {
		t.Logf("walk had finished listing before the callback failed (%+v)", st)
	}
}

func TestWalkHonoursCancel(t *testing.T) {
	env := discovertest.New(t, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	w := newWalker(t, env.Orgs(), discover.Config{})
	_, err := w.Walk(ctx, func(events.Account) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := discover.New(nil, discover.Config{Concurrency: 1000, Filter: discover.Filter{IncludeOUs: []string{"Prod"}}})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"concurrency 1000", `"Prod"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %s: %v", want, err)
		}
	}
}

// BenchmarkWalk walks generated orgs against awssim in process. With no
// latency the figure is the walk's own cost; with latency (each call
// delayed by about that much, as AWS's round trips are) it shows what the
// bounded concurrency buys.
func BenchmarkWalk(b *testing.B) {
	for _, bc := range []struct {
		accounts, concurrency int
		latency               time.Duration
	}{
		{1000, 4, 0}, {5000, 4, 0},
		{1000, 1, 50 * time.Millisecond}, {1000, 4, 50 * time.Millisecond}, {5000, 4, 50 * time.Millisecond},
	} {
		b.Run(fmt.Sprintf("accounts=%d/concurrency=%d/latency=%s", bc.accounts, bc.concurrency, bc.latency), func(b *testing.B) {
			org, err := awssim.Generate(awssim.GenConfig{Accounts: bc.accounts, Seed: 7})
			if err != nil {
				b.Fatal(err)
			}
			env := discovertest.Serve(b, awssim.Config{Org: org, Latency: bc.latency})
			w := newWalker(b, env.Orgs(), discover.Config{Concurrency: bc.concurrency})
			var st discover.Stats
			for b.Loop() {
				if _, st, err = w.List(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.Calls), "calls/walk")
			b.ReportMetric(float64(st.Kept), "accounts/walk")
			b.ReportMetric(float64(st.OUs), "OUs/walk")
		})
	}
}

// TestWalkAbsorbsTransientErrors: 500s and 503s on a tenth of the calls
// are retried by the SDK; the walk still matches the ground truth.
func TestWalkAbsorbsTransientErrors(t *testing.T) {
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 1000, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	env := discovertest.Serve(t, awssim.Config{Org: org, ErrorRate: 0.1})
	env.Hub.Retryer = func() aws.Retryer {
		// Ten attempts: a call fails for good with probability 1e-10.
		return retry.AddWithMaxAttempts(discovertest.FastRetryer(), 10)
	}
	got, _, err := newWalker(t, env.Orgs(), discover.Config{}).List(discovertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, got, want(env, nil))
	if st := env.Sim.Stats(); st.Errors == 0 {
		t.Error("awssim answered no error: the test proves nothing")
	}
}

// slashy renames the OU "Sandbox" to "Sand/box", as AWS would allow.
type slashy struct{ discover.API }

func (s slashy) ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	out, err := s.API.ListOrganizationalUnitsForParent(ctx, in, optFns...)
	if err == nil {
		for i, ou := range out.OrganizationalUnits {
			if aws.ToString(ou.Name) == "Sandbox" {
				out.OrganizationalUnits[i].Name = aws.String("Sand/box")
			}
		}
	}
	return out, err
}

func TestWalkWarnsOfSlashInOUName(t *testing.T) {
	env := discovertest.New(t, 100)
	var logs strings.Builder
	var mu sync.Mutex
	w := newWalker(t, slashy{env.Orgs()}, discover.Config{Concurrency: 1, Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))})
	got, _, err := w.List(discovertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `msg="OU name contains a slash: its path is ambiguous"`) || !strings.Contains(logs.String(), "ou_path=Root/Sand/box") {
		t.Errorf("no warning:\n%s", logs.String())
	}
	n := 0
	for _, a := range got {
		if a.OUPath == "Root/Sand/box" {
			n++
		}
	}
	if n == 0 {
		t.Error("no account under the renamed OU")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Accounts streams each account to its callback as the walk finds it (no
// tags yet), then returns them all sorted, tags included; a failing
// callback stops it.
func TestAccounts(t *testing.T) {
	env := discovertest.New(t, 60)
	keys := []string{"Owner", "owner", "Team"}
	stop := errors.New("publisher gone")
	tests := []struct {
		name    string
		failAt  int // the callback fails at this call; 0 never
		wantErr error
	}{
		{name: "every account"},
		{name: "callback fails", failAt: 3, wantErr: stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWalker(t, env.Orgs(), discover.Config{TagKeys: keys})
			var streamed []events.Account
			got, err := w.Accounts(discovertest.Ctx(t), func(a events.Account) error {
				streamed = append(streamed, a)
				if len(streamed) == tt.failAt {
					return stop
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if got != nil || len(streamed) != tt.failAt {
					t.Errorf("after the callback failed: %d accounts returned, %d streamed; want none, %d", len(got), len(streamed), tt.failAt)
				}
				return
			}
			exp := want(env, nil)
			for i := range exp {
				exp[i].Tags = tagTruth(env.Sim.Org(), exp[i].AccountID, keys)
			}
			diff(t, got, exp)
			if len(streamed) != len(exp) {
				t.Errorf("streamed %d accounts, want %d", len(streamed), len(exp))
			}
			for _, a := range streamed {
				if a.Tags != nil {
					t.Errorf("%s streamed with tags %v: they are read after", a.AccountID, a.Tags)
				}
			}
		})
	}
}
