package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/trigger"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var regions = []ident.Region{"us-east-1", "ap-east-1"}

// call is one Publish call as the recorder saw it.
type call struct {
	topic string
	n     int
	// orgCalls is how many AWS calls awssim had served when it happened.
	orgCalls int64
}

// recorder is the publisher under test: it counts messages per call,
// optionally fails one, and hands the rest to a GoChannel.
type recorder struct {
	next   message.Publisher
	sim    *awssim.Sim
	mu     sync.Mutex
	calls  []call
	failAt int // fail the failAt-th scan-requests call (1-based); 0 never
	nScan  int
}

var errPublish = errors.New("sqs: service unavailable")

func (r *recorder) Publish(topic string, msgs ...*message.Message) error {
	r.mu.Lock()
	c := call{topic: topic, n: len(msgs)}
	if r.sim != nil {
		c.orgCalls = r.sim.Stats().Total
	}
	if topic == events.TopicScanRequests {
		r.nScan++
		if r.nScan == r.failAt {
			r.mu.Unlock()
			return errPublish
		}
	}
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return r.next.Publish(topic, msgs...)
}

func (r *recorder) Close() error { return nil }

// bus is a GoChannel with a subscriber on each topic collecting what
// arrives.
type bus struct {
	*gochannel.GoChannel
	mu   sync.Mutex
	got  map[string][]*message.Message
	done sync.WaitGroup
}

func newBus(t *testing.T) *bus {
	t.Helper()
	b := &bus{GoChannel: gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024}, nil), got: map[string][]*message.Message{}}
	ctx, cancel := context.WithCancel(context.Background())
	for _, topic := range []string{events.TopicScanRequests, events.TopicResults} {
		ch, err := b.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		b.done.Add(1)
		go func() {
			defer b.done.Done()
			for m := range ch {
				b.mu.Lock()
				b.got[topic] = append(b.got[topic], m)
				b.mu.Unlock()
				m.Ack()
			}
		}()
	}
	t.Cleanup(func() { cancel(); _ = b.Close(); b.done.Wait() })
	return b
}

// wait returns the messages of topic once n have arrived.
func (b *bus) wait(t *testing.T, topic string, n int) []*message.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := slices.Clone(b.got[topic])
		b.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%s: %d messages arrived, want %d", topic, len(got), n)
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type fixture struct {
	env   *discovertest.Env
	bus   *bus
	rec   *recorder
	codec events.Codec
	dir   string
}

func newFixture(t *testing.T, accounts int) *fixture {
	t.Helper()
	env := discovertest.New(t, accounts)
	b := newBus(t)
	dir := t.TempDir()
	return &fixture{
		env:   env,
		bus:   b,
		rec:   &recorder{next: b, sim: env.Sim},
		codec: events.Codec{Payloads: blob.Payloads{Store: blob.Folder{Dir: dir}}, PayloadPrefix: "claims"},
		dir:   dir,
	}
}

// deps are the trigger's adapters over the fixture, the accounts found by
// the Organizations walker configured with dc (as internal/app wires it).
func (f *fixture) deps(t testing.TB, dc discover.Config) trigger.Deps {
	return trigger.Deps{Finder: finder(t, f.env.OrgsAsListRole(), dc), Publisher: f.rec, Codec: f.codec, Logger: quiet()}
}

func finder(t testing.TB, api discover.API, dc discover.Config) trigger.Finder {
	t.Helper()
	if dc.Logger == nil {
		dc.Logger = quiet()
	}
	w, err := discover.New(api, dc)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// scanRequests decodes msgs as the scanner will, keyed by account.
func (f *fixture) scanRequests(t *testing.T, msgs []*message.Message) map[ident.AccountID]*events.ScanRequested {
	t.Helper()
	out := map[ident.AccountID]*events.ScanRequested{}
	dec := events.Codec{DefaultType: events.TypeScanRequested}
	for _, m := range msgs {
		ev, err := dec.Unmarshal(context.Background(), m)
		if err != nil {
			t.Fatalf("undecodable scan request: %v", err)
		}
		sr, ok := ev.(*events.ScanRequested)
		if !ok {
			t.Fatalf("scan-requests carried a %T", ev)
		}
		if m.Metadata.Get(events.MetaAccountID) != string(sr.AccountID) || m.Metadata.Get(events.MetaRunID) != string(sr.RunID) {
			t.Errorf("metadata %v does not mirror the body", m.Metadata)
		}
		if out[sr.AccountID] != nil {
			t.Errorf("account %s requested twice", sr.AccountID)
		}
		out[sr.AccountID] = sr
	}
	return out
}

// TestScheduledRun opens a run over a 5,000-account org: one ScanRequested
// per ACTIVE account in Publish calls of at most ten, published while the
// walk goes on, then one RunStarted, over the inline limit, through the
// claim check.
func TestScheduledRun(t *testing.T) {
	f := newFixture(t, 5000)
	now := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	deps := f.deps(t, discover.Config{})
	deps.Now = func() time.Time { return now }
	rs, err := trigger.Run(ctx(t), trigger.Config{Regions: regions}, deps)
	if err != nil {
		t.Fatal(err)
	}
	active := f.env.Active()
	if rs.Trigger != events.TriggerScheduled || !rs.StartedAt.Equal(now) || !rs.Deadline.Equal(now.Add(45*time.Minute)) {
		t.Errorf("RunStarted %s %s %s", rs.Trigger, rs.StartedAt, rs.Deadline)
	}
	if _, err := ident.ParseRunID(string(rs.RunID)); err != nil || len(rs.RunID) != 26 {
		t.Errorf("run id %q is not a ULID", rs.RunID)
	}

	// Publish calls: at most ten messages each, RunStarted last and alone.
	calls := f.rec.calls
	last := calls[len(calls)-1]
	if last.topic != events.TopicResults || last.n != 1 {
		t.Errorf("last publish call: %+v, want the RunStarted alone", last)
	}
	full, scanCalls := 0, 0
	for _, c := range calls[:len(calls)-1] {
		if c.topic != events.TopicScanRequests {
			t.Fatalf("publish to %s before the walk ended", c.topic)
		}
		if c.n < 1 || c.n > trigger.MaxBatch {
			t.Errorf("publish call of %d messages", c.n)
		}
		if c.n == trigger.MaxBatch {
			full++
		}
		scanCalls++
	}
	if full < scanCalls-1 {
		t.Errorf("%d of %d calls carried 10 messages: batches are not filled", full, scanCalls)
	}
	// Streaming: the first batch went out long before the walk ended.
	t.Logf("first scan request published after %d of %d AWS calls; %d publish calls", calls[0].orgCalls, last.orgCalls, len(calls))
	if calls[0].orgCalls >= last.orgCalls/2 {
		t.Errorf("first scan request published after %d of %d AWS calls: not streamed", calls[0].orgCalls, last.orgCalls)
	}

	// Every ACTIVE account requested once, with its name, path and regions.
	reqs := f.scanRequests(t, f.bus.wait(t, events.TopicScanRequests, len(active)))
	for _, a := range active {
		sr := reqs[ident.AccountID(a.ID)]
		if sr == nil {
			t.Errorf("account %s not requested", a.ID)
			continue
		}
		if sr.RunID != rs.RunID || sr.AccountName != a.Name || sr.OUPath != a.OUPath || !slices.Equal(sr.Regions, regions) {
			t.Errorf("request %+v for account %+v", sr, a)
		}
	}

	// RunStarted: through the claim check, every account sorted by id.
	msgs := f.bus.wait(t, events.TopicResults, 1)
	if len(msgs[0].Payload) > events.MaxInlineBody || !strings.Contains(string(msgs[0].Payload), `"payload_ref"`) {
		t.Fatalf("RunStarted of %d accounts is inline (%d bytes)", len(active), len(msgs[0].Payload))
	}
	ev, err := f.codec.Unmarshal(context.Background(), msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	got := ev.(*events.RunStarted)
	if got.RunID != rs.RunID || len(got.Accounts) != len(active) {
		t.Fatalf("RunStarted %s with %d accounts, want %s with %d", got.RunID, len(got.Accounts), rs.RunID, len(active))
	}
	if !slices.IsSortedFunc(got.Accounts, func(a, b events.Account) int { return strings.Compare(string(a.AccountID), string(b.AccountID)) }) {
		t.Error("RunStarted accounts are not sorted by id")
	}
	for _, a := range got.Accounts {
		if reqs[a.AccountID] == nil || reqs[a.AccountID].OUPath != a.OUPath {
			t.Errorf("RunStarted account %+v does not match its scan request", a)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "claims", string(rs.RunID))); err != nil {
		t.Errorf("claim check not under its prefix: %v", err)
	}
}

func TestAdhocRun(t *testing.T) {
	f := newFixture(t, 200)
	active := f.env.Active()
	ids := []ident.AccountID{ident.AccountID(active[50].ID), ident.AccountID(active[3].ID)}
	f.env.Sim.ResetStats()
	cfg := trigger.Config{Accounts: ids, Regions: regions[:1], RunID: "adhoc-test-1", Deadline: 10 * time.Minute}
	filter, _ := discover.ParseFilter("", string(ids[0]), "", "") // ignored for ad hoc
	rs, err := trigger.Run(ctx(t), cfg, f.deps(t, discover.Config{Filter: filter}))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Trigger != events.TriggerAdhoc || rs.RunID != "adhoc-test-1" || len(rs.Accounts) != 2 || rs.Deadline.Sub(rs.StartedAt) != 10*time.Minute {
		t.Errorf("RunStarted %+v", rs)
	}
	reqs := f.scanRequests(t, f.bus.wait(t, events.TopicScanRequests, 2))
	for _, i := range []int{50, 3} {
		a := active[i]
		sr := reqs[ident.AccountID(a.ID)]
		if sr == nil || sr.AccountName != a.Name || sr.OUPath != a.OUPath || sr.RunID != "adhoc-test-1" {
			t.Errorf("request %+v for %+v", sr, a)
		}
	}
	f.bus.wait(t, events.TopicResults, 1)
	st := f.env.Sim.Stats()
	if st.Calls["ListAccountsForParent"] != nil || st.Calls["ListOrganizationalUnitsForParent"] != nil {
		t.Errorf("ad hoc run walked the organisation: %v", st.Calls)
	}
}

// TestPublishFailureThenRerun: a publish error leaves no RunStarted and
// names the run id; re-running with it completes the run.
func TestPublishFailureThenRerun(t *testing.T) {
	f := newFixture(t, 300)
	f.rec.failAt = 3
	cfg := trigger.Config{Regions: regions, PublishConcurrency: 1}
	_, err := trigger.Run(ctx(t), cfg, f.deps(t, discover.Config{}))
	if !errors.Is(err, errPublish) {
		t.Fatalf("err = %v, want %v", err, errPublish)
	}
	if strings.Count(err.Error(), errPublish.Error()) != 1 {
		t.Errorf("error repeats itself: %v", err)
	}
	var runID string
	if _, err := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "-run-id "):], "-run-id %s", &runID); err != nil {
		t.Fatalf("error does not name the run id to re-run with: %v", err)
	}
	for _, c := range f.rec.calls {
		if c.topic == events.TopicResults {
			t.Fatal("RunStarted published after a failed scan request")
		}
	}

	f.rec.failAt = 0
	cfg.RunID = ident.RunID(runID)
	rs, err := trigger.Run(ctx(t), cfg, f.deps(t, discover.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if string(rs.RunID) != runID || len(rs.Accounts) != len(f.env.Active()) {
		t.Errorf("re-run: run %s with %d accounts", rs.RunID, len(rs.Accounts))
	}
	ev, err := f.codec.Unmarshal(context.Background(), f.bus.wait(t, events.TopicResults, 1)[0])
	if err != nil || ev.(*events.RunStarted).RunID != rs.RunID {
		t.Errorf("RunStarted of the re-run: %v %v", ev, err)
	}
}

func TestNothingToScan(t *testing.T) {
	f := newFixture(t, 50)
	cfg := trigger.Config{Regions: regions}
	filter, _ := discover.ParseFilter("", "", "Root/NoSuchOU", "")
	_, err := trigger.Run(ctx(t), cfg, f.deps(t, discover.Config{Filter: filter}))
	if err == nil || !strings.Contains(err.Error(), "no account to scan") {
		t.Fatalf("err = %v", err)
	}
	if len(f.rec.calls) != 0 {
		t.Errorf("published %d calls for an empty run", len(f.rec.calls))
	}
}

func TestAdhocUnknownAccount(t *testing.T) {
	f := newFixture(t, 50)
	_, err := trigger.Run(ctx(t), trigger.Config{Accounts: []ident.AccountID{"999999999999"}, Regions: regions}, f.deps(t, discover.Config{}))
	if !errors.Is(err, events.ErrNotScannable) || !strings.Contains(err.Error(), "nothing published") {
		t.Fatalf("err = %v", err)
	}
	if len(f.rec.calls) != 0 {
		t.Errorf("published %d calls", len(f.rec.calls))
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := trigger.Config{
		RunID:    "bad run id",
		Accounts: []ident.AccountID{"123"},
		Regions:  []ident.Region{"us-east-1", "nowhere", "us-east-1"},
		Deadline: 500 * time.Millisecond,
	}
	_, err := trigger.Run(context.Background(), cfg, trigger.Deps{})
	if err == nil {
		t.Fatal("Run accepted a bad config")
	}
	for _, want := range []string{"run id", `"123"`, `"nowhere"`, "listed twice", "deadline 500ms", "finder", "publisher", "payload store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %s:\n%v", want, err)
		}
	}
	if _, err := trigger.Run(context.Background(), trigger.Config{}, trigger.Deps{}); err == nil || !strings.Contains(err.Error(), "regions") {
		t.Errorf("no regions: %v", err)
	}
}

// TestProgressLogged: progress lines while the run opens, one line per
// skipped SUSPENDED account, a summary, and no secret anywhere.
func TestProgressLogged(t *testing.T) {
	f := newFixture(t, 1000)
	var buf harness.LockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := f.deps(t, discover.Config{Logger: logger})
	deps.Logger = logger
	rs, err := trigger.Run(ctx(t), trigger.Config{Regions: regions, ProgressInterval: time.Millisecond}, deps)
	if err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	suspended := 0
	for _, a := range f.env.Sim.Org().Accounts {
		if a.Status != awssim.StatusActive {
			suspended++
			if !strings.Contains(logs, `"account_id":"`+a.ID+`","state":"SUSPENDED"`) {
				t.Errorf("skipped account %s not logged", a.ID)
			}
		}
	}
	for _, want := range []string{
		`"msg":"run opening: progress"`,
		fmt.Sprintf(`"skipped_inactive":%d`, suspended),
		fmt.Sprintf(`"msg":"run started","run_id":"%s","trigger":"scheduled","accounts":%d,"scan_requests":%d`, rs.RunID, len(rs.Accounts), len(rs.Accounts)),
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	sessions := f.env.Sim.Sessions()
	if len(sessions) == 0 {
		t.Fatal("no session issued: the org-list role was not assumed")
	}
	for _, s := range sessions {
		for _, secret := range []string{s.SecretAccessKey, s.SessionToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("a session secret of %s appears in the logs", s.Role)
			}
		}
	}
	if strings.Contains(logs, "hubsecret") {
		t.Error("the hub secret appears in the logs")
	}
}

// discard is a publisher that drops messages, so the benchmark measures
// the trigger, not a bus.
type discard struct{}

func (discard) Publish(string, ...*message.Message) error { return nil }
func (discard) Close() error                              { return nil }

// BenchmarkRun opens scheduled runs over generated orgs (awssim in
// process, no latency): walk, 1 ScanRequested per account, RunStarted
// through the claim check into a folder.
func BenchmarkRun(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			env := discovertest.New(b, n)
			deps := trigger.Deps{
				Finder: finder(b, env.Orgs(), discover.Config{}), Publisher: discard{}, Logger: quiet(),
				Codec: events.Codec{Payloads: blob.Payloads{Store: blob.Folder{Dir: b.TempDir()}}, PayloadPrefix: "claims"},
			}
			var rs events.RunStarted
			for b.Loop() {
				var err error
				if rs, err = trigger.Run(context.Background(), trigger.Config{Regions: regions}, deps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rs.Accounts)), "accounts/run")
		})
	}
}

// TestRunReadsOwnerTags: with -owner-tags, RunStarted carries each
// account's tags among the keys named (ground truth: awssim), read with one
// ListTagsForResource per account, in a scheduled and an ad-hoc run;
// without, no tag is read.
func TestRunReadsOwnerTags(t *testing.T) {
	owner, err := events.ParseOwnerTags("Owner|owner,Team")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		owner []events.OwnerTag
		adhoc bool
	}{
		{"scheduled, no owner tags", nil, false},
		{"scheduled", owner, false},
		{"ad hoc", owner, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 120)
			org := f.env.Sim.Org()
			cfg := trigger.Config{Regions: regions}
			if tt.adhoc {
				for _, a := range f.env.Active()[:10] {
					cfg.Accounts = append(cfg.Accounts, ident.AccountID(a.ID))
				}
			}
			f.env.Sim.ResetStats()
			keys := events.OwnerTagKeys(tt.owner)
			rs, err := trigger.Run(ctx(t), cfg, f.deps(t, discover.Config{TagKeys: keys}))
			if err != nil {
				t.Fatal(err)
			}
			withTags, lower := 0, 0
			for _, a := range rs.Accounts {
				var want map[string]string
				for _, tag := range org.Tags(string(a.AccountID)) {
					if slices.Contains(keys, tag.Key) {
						if want == nil {
							want = map[string]string{}
						}
						want[tag.Key] = tag.Value
					}
				}
				got := events.Account{AccountID: a.AccountID, Name: a.Name, OUPath: a.OUPath, Tags: want}
				if !a.Equal(got) {
					t.Errorf("%s: tags %v, want %v", a.AccountID, a.Tags, want)
				}
				if a.Tags != nil {
					withTags++
				}
				if a.Tags["owner"] != "" {
					lower++
				}
			}
			var calls int64
			for _, n := range f.env.Sim.Stats().Calls["ListTagsForResource"] {
				calls += n
			}
			if tt.owner == nil {
				if calls != 0 || withTags != 0 {
					t.Errorf("%d ListTagsForResource calls, %d accounts with tags, without -owner-tags", calls, withTags)
				}
				return
			}
			if calls != int64(len(rs.Accounts)) {
				t.Errorf("%d ListTagsForResource calls for %d accounts, want one each", calls, len(rs.Accounts))
			}
			if withTags == 0 || withTags == len(rs.Accounts) || (!tt.adhoc && lower == 0) {
				t.Errorf("%d of %d accounts with tags, %d with a lower-case owner: the org does not exercise them", withTags, len(rs.Accounts), lower)
			}
		})
	}
}
