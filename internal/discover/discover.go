// Package discover finds the accounts a report run scans: it walks an AWS
// Organization's OU tree from the root with the Organizations read APIs,
// records each account's OU path, keeps ACTIVE accounts and applies the
// include/exclude filters; or, for an ad-hoc run, looks a few accounts up
// by id without walking the tree.
//
// The accounts it finds are events.Account, the contracts' type, so that
// the stages which ask for them (the trigger's walk, the scanner's ad-hoc
// lookup) need not know this package: each declares the interface it
// calls, and internal/app wires a Walker in.
//
// It streams accounts to its caller as they are found, so the trigger can
// publish scan requests while the walk goes on. It does not publish, assume
// roles or build clients: it is given a client shaped like the SDK's
// (*organizations.Client satisfies API), signed with whatever credentials
// the wiring chose (the org-list role, or the ambient identity).
package discover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// API is the part of the Organizations client this package calls. The walk
// uses the three listings; Lookup uses the three others.
type API interface {
	ListRoots(ctx context.Context, in *organizations.ListRootsInput, optFns ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
	ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, optFns ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	ListParents(ctx context.Context, in *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
	// ListTagsForResource reads an account's tags, only when
	// Config.TagKeys names some.
	ListTagsForResource(ctx context.Context, in *organizations.ListTagsForResourceInput, optFns ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error)
}

// Stats counts what a walk saw.
type Stats struct {
	OUs      int // OUs listed (the root not counted)
	Pruned   int // OUs not listed because the filter drops their whole subtree
	Seen     int // accounts listed
	Kept     int // ACTIVE accounts the filter kept
	Inactive int // accounts skipped because their state is not ACTIVE
	Filtered int // ACTIVE accounts the filter dropped
	Invalid  int // accounts skipped because Organizations gave a malformed id
	Tagged   int // kept accounts whose tags were read (Config.TagKeys)
	Calls    int // Organizations requests made
	Duration time.Duration
}

// DefaultConcurrency bounds the Organizations calls in flight. AWS
// Organizations allows only a few requests per second per organisation and
// answers TooManyRequestsException beyond; the SDK's retryer absorbs that,
// but a high fan-out only buys throttling.
const DefaultConcurrency = 4

// Config configures a Walker.
type Config struct {
	Filter Filter
	// Concurrency bounds the Organizations calls in flight; default
	// DefaultConcurrency.
	Concurrency int
	// TagKeys are the account tags to read (-owner-tags'
	// events.OwnerTagKeys): when it names any, the walk reads each kept
	// account's tags (one ListTagsForResource listing per account) and
	// Lookup each account's; when empty no tags are read at all.
	TagKeys []string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate returns every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency %d: want 1 to 64", c.Concurrency))
	}
	if err := c.Filter.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("filter: %w", err))
	}
	return errors.Join(errs...)
}

// Walker walks one organisation. It is safe for concurrent use.
type Walker struct {
	api  API
	cfg  Config
	log  *slog.Logger
	keys map[string]bool // TagKeys as a set; nil: no tags read
}

// New returns a Walker calling api.
func New(api API, cfg Config) (*Walker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("discover config: %w", err)
	}
	if api == nil {
		return nil, errors.New("discover config: organizations client: required")
	}
	return &Walker{api: api, cfg: cfg, log: cfg.Logger, keys: tagKeySet(cfg.TagKeys)}, nil
}

// found is one account as listed, before it is judged.
type found struct {
	id, name, state, path string
}

// WalkTagged lists every account of the organisation, following every page
// of every listing, and calls fn with each ACTIVE account the filter keeps
// as soon as the page listing it arrives. fn is called from WalkTagged's
// goroutine, one account at a time, in no defined order; an error from fn
// stops the walk and is returned as is. Any Organizations error (after the
// SDK's retries) stops the walk too: a partial list is never returned as a
// whole one.
//
// When the config names TagKeys it also reads each kept account's tags,
// once, while the walk goes on: fn is called as soon
// as an account is found (its Tags not yet read, so that scan requests go
// out without waiting for them), and WalkTagged returns when every tag read
// is done, with the tags by account. Tag reads share the walk's bound of
// calls in flight, and take at most half its slots when it has more than
// one, so the listings keep moving; a tag read that fails (after the SDK's
// retries) stops the walk, as a listing does. Without TagKeys, tags is nil
// and no tag is read.
func (w *Walker) WalkTagged(ctx context.Context, fn func(events.Account) error) (tags Tags, _ Stats, _ error) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// One OU at a time per slot, each listed to the end before the slot
	// is freed: with a slot per call instead, hundreds of OUs would
	// advance page by page in interleaved order and none would finish
	// (and stream its accounts) until near the end of the walk.
	slots := make(chan struct{}, w.cfg.Concurrency)
	lim := &limited{api: w.api, sem: make(chan struct{}, w.cfg.Concurrency)}
	out := make(chan found, 256)
	var (
		wg          sync.WaitGroup
		ous, pruned atomic.Int64
	)
	var visit func(id, path string)
	visit = func(id, path string) {
		defer wg.Done()
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-slots }()
		err := listParent(ctx, lim, id, path, func(k child) {
			if name := k.path[len(path)+1:]; strings.Contains(name, "/") {
				// AWS allows "/" in an OU name; its accounts' path then
				// has one segment too many and OU filters may misread it.
				w.log.Warn("OU name contains a slash: its path is ambiguous", slog.String("ou_id", k.id), slog.String("ou_path", k.path))
			}
			if !w.cfg.Filter.descend(k.path) {
				pruned.Add(1)
				w.log.Debug("OU skipped by filter", slog.String("ou_path", k.path))
				return
			}
			ous.Add(1)
			wg.Add(1)
			go visit(k.id, k.path)
		}, func(a found) error {
			select {
			case out <- a:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		if err != nil {
			cancel(err)
		}
	}

	// Tag reads: one goroutine per kept account, at most tagSlots of them
	// calling at once (each call also takes one of lim's slots).
	var (
		tagWG  sync.WaitGroup
		tagMu  sync.Mutex
		tagged int
	)
	tagSlots := make(chan struct{}, max(1, w.cfg.Concurrency/2))
	readTags := func(id ident.AccountID) {
		defer tagWG.Done()
		select {
		case tagSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-tagSlots }()
		t, err := accountTags(ctx, lim, id, w.keys)
		if err != nil {
			cancel(err)
			return
		}
		tagMu.Lock()
		tagged++
		if t != nil {
			tags[id] = t
		}
		tagMu.Unlock()
	}
	if w.keys != nil {
		tags = Tags{}
	}

	roots, err := listRoots(ctx, lim)
	if err != nil {
		return nil, Stats{Calls: int(lim.calls.Load())}, err
	}
	for _, r := range roots {
		wg.Add(1)
		go visit(r, RootPath)
	}
	go func() { wg.Wait(); close(out) }()

	var st Stats
	var fnErr error
	for a := range out {
		if fnErr != nil {
			continue // drain, so that the visitors can finish
		}
		st.Seen++
		acct, keep := w.judge(a, &st)
		if !keep {
			continue
		}
		if err := fn(acct); err != nil {
			fnErr = err
			cancel(err)
			continue
		}
		if w.keys != nil {
			tagWG.Add(1)
			go readTags(acct.AccountID)
		}
	}
	tagWG.Wait()
	st.Tagged = tagged
	st.OUs, st.Pruned = int(ous.Load()), int(pruned.Load())
	st.Calls = int(lim.calls.Load())
	st.Duration = time.Since(start)
	if fnErr != nil {
		return nil, st, fnErr
	}
	if err := context.Cause(ctx); err != nil {
		return nil, st, err
	}
	w.log.Info("organization walked",
		slog.Int("ous", st.OUs), slog.Int("ous_pruned", st.Pruned), slog.Int("accounts_seen", st.Seen),
		slog.Int("accounts_kept", st.Kept), slog.Int("skipped_inactive", st.Inactive),
		slog.Int("skipped_by_filter", st.Filtered), slog.Int("skipped_invalid", st.Invalid),
		slog.Int("accounts_tagged", st.Tagged),
		slog.Int("api_calls", st.Calls), slog.Duration("duration", st.Duration))
	return tags, st, nil
}

// judge validates, checks the state and applies the filter.
func (w *Walker) judge(a found, st *Stats) (events.Account, bool) {
	id, err := ident.ParseAccountID(a.id)
	if err != nil {
		st.Invalid++
		w.log.Error("account skipped: Organizations listed a malformed account id", slog.String("ou_path", a.path), slog.Any("error", err))
		return events.Account{}, false
	}
	if a.state != string(types.AccountStateActive) {
		st.Inactive++
		w.log.Info("account skipped: not ACTIVE", slog.String("account_id", a.id), slog.String("state", a.state), slog.String("ou_path", a.path))
		return events.Account{}, false
	}
	if !w.cfg.Filter.Match(id, a.path) {
		st.Filtered++
		w.log.Debug("account skipped by filter", slog.String("account_id", a.id), slog.String("ou_path", a.path))
		return events.Account{}, false
	}
	st.Kept++
	return events.Account{AccountID: id, Name: a.name, OUPath: a.path}, true
}

// List walks the organisation and returns the kept accounts sorted by id,
// with their tags when the config names TagKeys.
func (w *Walker) List(ctx context.Context) ([]events.Account, Stats, error) {
	return w.list(ctx, nil)
}

// Accounts is List for a caller that acts on each account as soon as it
// is found, as WalkTagged does: fn is called with each one (its tags not yet
// read) and may stop the walk by failing; the accounts then come back
// sorted by id, with their tags. The trigger publishes scan requests with
// it while the walk goes on.
func (w *Walker) Accounts(ctx context.Context, fn func(events.Account) error) ([]events.Account, error) {
	accts, _, err := w.list(ctx, fn)
	return accts, err
}

func (w *Walker) list(ctx context.Context, fn func(events.Account) error) ([]events.Account, Stats, error) {
	var accts []events.Account
	tags, st, err := w.WalkTagged(ctx, func(a events.Account) error {
		accts = append(accts, a)
		if fn != nil {
			return fn(a)
		}
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	for i := range accts {
		accts[i].Tags = tags[accts[i].AccountID]
	}
	SortAccounts(accts)
	return accts, st, nil
}

// SortAccounts sorts by account id, the order of every list this
// pipeline prints.
func SortAccounts(accts []events.Account) {
	slices.SortFunc(accts, func(a, b events.Account) int { return strings.Compare(string(a.AccountID), string(b.AccountID)) })
}

// accountState is the account's state. Organizations is replacing the
// Status field (ACTIVE, SUSPENDED, PENDING_CLOSURE) with State (which adds
// PENDING_ACTIVATION and CLOSED); State wins when present.
func accountState(a types.Account) string {
	if a.State != "" {
		return string(a.State)
	}
	return string(a.Status)
}

type child struct{ id, path string }

func listRoots(ctx context.Context, api API) ([]string, error) {
	var ids []string
	p := organizations.NewListRootsPaginator(api, &organizations.ListRootsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list roots: %w", err)
		}
		for _, r := range page.Roots {
			ids = append(ids, aws.ToString(r.Id))
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("list roots: the organisation has no root")
	}
	return ids, nil
}

// listParent lists the child OUs and the accounts directly under parent,
// handing each to its callback as its page arrives. The two listings run
// side by side (each call still takes one of the walk's call slots): a
// child's walk starts as soon as the first page of OUs arrives, and the
// accounts come one call sooner than after the OUs, which matters at the
// start of a run, when the scan has no account yet and every call slot
// waits for the walk's first pages (at 20 ms per call, a run's first
// accounts came after four calls, ListRoots, the root's OUs, a child's
// OUs and then its accounts; now after three). onOU and onAccount may be
// called from two goroutines at once. The SDK's paginators keep asking
// while NextToken is set, which matters: Organizations may answer an
// empty page that still carries a token, and a loop that stopped on a
// short or empty page would drop accounts silently. The OUs' error comes
// first when both listings fail.
func listParent(ctx context.Context, api API, parentID, path string, onOU func(child), onAccount func(found) error) error {
	var (
		wg    sync.WaitGroup
		ouErr error
	)
	// The accounts on this goroutine, which usually asks before the new
	// one runs: when the walk's call slots are contended (several OUs
	// starting at once), the accounts, which the scan is waiting for,
	// mostly get theirs before the OUs below. (OUs first, the run's first
	// accounts came no sooner: the children's OU listings took every slot.)
	wg.Go(func() { ouErr = listOUs(ctx, api, parentID, path, onOU) })
	acctErr := listAccounts(ctx, api, parentID, path, onAccount)
	wg.Wait()
	return cmp.Or(ouErr, acctErr)
}

// listOUs lists the child OUs of parent, every page.
func listOUs(ctx context.Context, api API, parentID, path string, onOU func(child)) error {
	op := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parentID)})
	for op.HasMorePages() {
		page, err := op.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list OUs under %s (%s): %w", path, parentID, err)
		}
		for _, ou := range page.OrganizationalUnits {
			onOU(child{id: aws.ToString(ou.Id), path: path + "/" + aws.ToString(ou.Name)})
		}
	}
	return nil
}

// listAccounts lists the accounts directly under parent, every page.
func listAccounts(ctx context.Context, api API, parentID, path string, onAccount func(found) error) error {
	ap := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parentID)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list accounts under %s (%s): %w", path, parentID, err)
		}
		for _, a := range page.Accounts {
			if err := onAccount(found{id: aws.ToString(a.Id), name: aws.ToString(a.Name), state: accountState(a), path: path}); err != nil {
				return err
			}
		}
	}
	return nil
}

// limited counts the calls and bounds those in flight to cap(sem) (the
// walk's OU slots already keep them within it; Lookup relies on it). The
// paginators take it as their client.
type limited struct {
	api   API
	sem   chan struct{}
	calls atomic.Int64
}

func (l *limited) acquire(ctx context.Context) error {
	select {
	case l.sem <- struct{}{}:
		l.calls.Add(1)
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (l *limited) release() { <-l.sem }

func limit[In, Out any](l *limited, ctx context.Context, f func(context.Context, In, ...func(*organizations.Options)) (Out, error), in In, optFns []func(*organizations.Options)) (Out, error) {
	if err := l.acquire(ctx); err != nil {
		var zero Out
		return zero, err
	}
	defer l.release()
	return f(ctx, in, optFns...)
}

func (l *limited) ListRoots(ctx context.Context, in *organizations.ListRootsInput, optFns ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	return limit(l, ctx, l.api.ListRoots, in, optFns)
}

func (l *limited) ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	return limit(l, ctx, l.api.ListOrganizationalUnitsForParent, in, optFns)
}

func (l *limited) ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	return limit(l, ctx, l.api.ListAccountsForParent, in, optFns)
}

func (l *limited) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, optFns ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	return limit(l, ctx, l.api.DescribeAccount, in, optFns)
}

func (l *limited) ListParents(ctx context.Context, in *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	return limit(l, ctx, l.api.ListParents, in, optFns)
}

func (l *limited) ListTagsForResource(ctx context.Context, in *organizations.ListTagsForResourceInput, optFns ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error) {
	return limit(l, ctx, l.api.ListTagsForResource, in, optFns)
}

func (l *limited) DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	return limit(l, ctx, l.api.DescribeOrganizationalUnit, in, optFns)
}
