package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/chaos"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/runstart"
)

// AdhocPrefix starts the run id of a hand-written message: "adhoc-" and the
// queue's message id, so that a redelivery lands in the same run.
const AdhocPrefix = "adhoc-"

// Namer finds an ad-hoc account with the org-list role (DescribeAccount,
// ListParents up to the root, DescribeOrganizationalUnit, and
// ListTagsForResource when configured with tag keys): whether it may be
// scanned, its name, its OU path and its owner tags. internal/app wires
// the production one (the Organizations walker). Lookup's error wraps
// events.ErrNotScannable for an account that is not in the organisation
// or not ACTIVE.
type Namer interface {
	Lookup(ctx context.Context, ids []ident.AccountID) ([]events.Account, error)
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Scanner scans; required.
	Scanner *Scanner
	// Publisher sends RunStarted and AccountScanned to
	// events.TopicResults; required.
	Publisher message.Publisher
	// Codec decodes requests (its DefaultType is forced to ScanRequested:
	// a body with neither type nor schema_version is the hand-written
	// ad-hoc message) and encodes results (give it Payloads, so a result
	// over the message limit goes out as a claim check).
	Codec events.Codec
	// Namer checks and names ad-hoc accounts; required. An ad-hoc
	// request's account name and OU path come from it, never from the
	// message: anyone who may send to the scan queue could otherwise file
	// a report under any name. (Local mode wires the same walker, through
	// its org-list role or the caller's identity.)
	Namer Namer
	// Deadline of an ad-hoc run; default events.DefaultDeadline.
	Deadline time.Duration
	// FinishTimeout is how long a scan in hand may go on, and publish its
	// result, once the process starts stopping (the message's context
	// ends on SIGTERM, a scale-down). An abandoned message waits out the
	// queue's visibility timeout (15 minutes) before another scanner takes
	// it, holding the whole run back; a finished one is reported at once.
	// Keep it under the router's close timeout. Default
	// DefaultFinishTimeout; negative abandons at once.
	FinishTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *HandlerConfig) setDefaults() {
	if c.Deadline == 0 {
		c.Deadline = events.DefaultDeadline
	}
	if c.FinishTimeout == 0 {
		c.FinishTimeout = DefaultFinishTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Codec.DefaultType = events.TypeScanRequested
}

// Validate reports every problem at once.
func (c HandlerConfig) Validate() error {
	var errs []error
	if c.Scanner == nil {
		errs = append(errs, errors.New("scanner: required"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("publisher: required"))
	}
	if c.Namer == nil {
		errs = append(errs, errors.New("namer: required (ad-hoc accounts are checked and named with the org-list role)"))
	}
	if c.Deadline <= 0 || c.Deadline > events.MaxRunLength {
		errs = append(errs, fmt.Errorf("deadline %s: want a positive duration up to %s", c.Deadline, events.MaxRunLength))
	}
	return errors.Join(errs...)
}

// Handler is the scanner's watermill handler.
type Handler struct {
	cfg     HandlerConfig
	log     *slog.Logger
	now     func() time.Time
	regions map[ident.Region]bool // the scanner's configured regions
}

// NewHandler returns a Handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scan handler config: %w", err)
	}
	regions := map[ident.Region]bool{}
	for _, r := range cfg.Scanner.Regions() {
		regions[r] = true
	}
	return &Handler{cfg: cfg, log: cfg.Logger, now: time.Now, regions: regions}, nil
}

// Handle scans the account a ScanRequested names and publishes its
// AccountScanned; for a hand-written message without a run id it first
// opens a one-account ad-hoc run (RunStarted, published before the result).
// It returns an error wrapping *events.DecodeError for a message that can
// never be handled (the messaging layer sends it to the poison queue):
// undecodable, regions outside the scanner's configured ones
// (events.ReasonInvalid), or an ad-hoc account Organizations does not know
// or that is not ACTIVE (events.ReasonUnknownAccount). Any other error
// means nothing should be acknowledged: an ad-hoc account that could not be
// looked up, a result it could not publish, or a scan abandoned because
// the process is stopping.
// A failed scan is not an error: it is a result. Redelivery is harmless:
// the run id is the same, and the aggregator keeps the first result.
func (h *Handler) Handle(msg *message.Message) error {
	ctx, cancel := finishWithin(msg.Context(), h.cfg.FinishTimeout)
	defer cancel()
	ev, err := h.cfg.Codec.Unmarshal(ctx, msg)
	if err != nil {
		return fmt.Errorf("scan request %s: %w", msg.UUID, err)
	}
	req, ok := ev.(*events.ScanRequested)
	if !ok {
		return fmt.Errorf("scan request %s: %w", msg.UUID, &events.DecodeError{
			Reason: events.ReasonUnknownType, Err: fmt.Errorf("%s on the scan queue, want %s", ev.EventType(), events.TypeScanRequested)})
	}
	regions, err := h.allowedRegions(req.Regions)
	if err != nil {
		return fmt.Errorf("scan request %s: %w", msg.UUID, &events.DecodeError{Reason: events.ReasonInvalid, Err: err})
	}
	req.Regions = regions
	if req.RunID == "" {
		if err := h.openAdhoc(ctx, msg.UUID, req); err != nil {
			return err
		}
	}

	chaos.Hold(chaos.BeforeScan) // test/chaos only; empty in shipped builds
	res := h.cfg.Scanner.ScanAccount(ctx, *req)
	if ctx.Err() != nil {
		// Stopped and out of time: a result full of RequestCanceled
		// errors would report an account as failed that nothing is wrong
		// with. Leave the message to be redelivered.
		return fmt.Errorf("scan of account %s abandoned: %w", req.AccountID, ctx.Err())
	}
	if err := h.publish(ctx, res); err != nil {
		return fmt.Errorf("publish result of account %s in run %s: %w", req.AccountID, req.RunID, err)
	}
	return nil
}

// maxNamedRegions bounds the regions an invalid request's error names: a
// 256 KiB message can list some 20,000.
const maxNamedRegions = 5

// allowedRegions returns the regions a request asks for, duplicates
// removed and in its order: all the configured ones when it names none.
// A region outside them is an error: each one asked costs a goroutine, a
// client and its calls, so a request may only choose among the regions
// the deployment scans.
func (h *Handler) allowedRegions(asked []ident.Region) ([]ident.Region, error) {
	if len(asked) == 0 {
		return h.cfg.Scanner.Regions(), nil
	}
	var (
		out     []ident.Region
		unknown []string
		seen    = make(map[ident.Region]bool, len(h.regions))
		bad     = 0
	)
	for _, r := range asked {
		if !h.regions[r] {
			if bad++; bad <= maxNamedRegions {
				unknown = append(unknown, string(r))
			}
			continue
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if bad > 0 {
		more := ""
		if bad > maxNamedRegions {
			more = fmt.Sprintf(" and %d more", bad-maxNamedRegions)
		}
		return nil, fmt.Errorf("regions %s%s are not among the scanner's configured regions %v", strings.Join(unknown, ", "), more, h.cfg.Scanner.Regions())
	}
	return out, nil
}

// openAdhoc gives a hand-written request its run: the id derived from the
// queue's message id, and a RunStarted naming the one account, with the
// name and OU path Organizations gives (whatever the message says).
func (h *Handler) openAdhoc(ctx context.Context, msgID string, req *events.ScanRequested) error {
	run, err := AdhocRunID(msgID)
	if err != nil {
		return fmt.Errorf("ad-hoc scan request: %w", &events.DecodeError{Reason: events.ReasonMalformed, Err: err})
	}
	acct, err := h.lookup(ctx, req.AccountID)
	if err != nil {
		return fmt.Errorf("ad-hoc scan request %s: %w", msgID, err)
	}
	req.RunID = run
	req.AccountName, req.OUPath = acct.Name, acct.OUPath
	rs := runstart.New(run, events.TriggerAdhoc, h.now(), h.cfg.Deadline, req.Regions)
	rs.Accounts = []events.Account{{AccountID: req.AccountID, Name: req.AccountName, OUPath: req.OUPath, Tags: acct.Tags}}
	if _, err := runstart.Publish(ctx, h.cfg.Publisher, h.cfg.Codec, &rs); err != nil {
		return fmt.Errorf("open ad-hoc run %s for account %s: %w", run, req.AccountID, err)
	}
	h.log.Info("ad-hoc run opened", slog.String("run_id", string(run)), slog.String("account_id", string(req.AccountID)),
		slog.String("account_name", req.AccountName), slog.String("ou_path", req.OUPath))
	return nil
}

// lookup finds an ad-hoc account in the organisation. It is poison
// (events.ReasonUnknownAccount) only when Organizations said so: the
// account is not in the organisation (AccountNotFoundException) or not
// ACTIVE. Any other failure (throttling, the org-list role refused, a
// network error) is returned as is, so the message is redelivered: an
// outage must not throw away a real request.
func (h *Handler) lookup(ctx context.Context, id ident.AccountID) (events.Account, error) {
	accts, err := h.cfg.Namer.Lookup(ctx, []ident.AccountID{id})
	if errors.Is(err, events.ErrNotScannable) {
		return events.Account{}, &events.DecodeError{Reason: events.ReasonUnknownAccount, Err: err}
	}
	if err != nil {
		h.log.Warn("ad-hoc account lookup failed, the request will be redelivered", slog.String("account_id", string(id)),
			slog.String("code", awserr.Code(err)), slog.Any("error", err))
		return events.Account{}, fmt.Errorf("look up account %s: %w", id, err)
	}
	if len(accts) != 1 || accts[0].AccountID != id {
		return events.Account{}, fmt.Errorf("look up account %s: %d accounts answered", id, len(accts))
	}
	return accts[0], nil
}

func (h *Handler) publish(ctx context.Context, ev events.Event) error {
	m, err := h.cfg.Codec.Marshal(ctx, ev)
	if err != nil {
		return err
	}
	m.SetContext(ctx)
	return h.cfg.Publisher.Publish(events.TopicResults, m)
}

// AdhocRunID derives the run id of a hand-written message from its queue
// message id: "adhoc-" and the id when that is a valid run id (an SQS
// MessageId, a UUID, is), else "adhoc-" and a hash of it, so that every
// delivery of one message gets one run.
func AdhocRunID(msgID string) (ident.RunID, error) {
	if msgID == "" {
		return "", errors.New("no message id to derive the run id from")
	}
	if r, err := ident.ParseRunID(AdhocPrefix + msgID); err == nil {
		return r, nil
	}
	sum := sha256.Sum256([]byte(msgID))
	return ident.ParseRunID(AdhocPrefix + hex.EncodeToString(sum[:16]))
}

// DefaultFinishTimeout leaves a scan in hand 15 s to finish after SIGTERM:
// under the router's default close timeout (20 s) and the pods'
// terminationGracePeriodSeconds.
const DefaultFinishTimeout = 15 * time.Second

// finishWithin returns a context that outlives parent's cancellation by
// grace: work in hand when the process starts stopping gets that long to
// finish. A negative grace ends it with parent (and at parent's deadline).
//
// It carries none of parent's values. Nothing under a scan reads them (the
// router's handler name, subscriber and publisher are read from the
// message's own context), and every value an AWS call looks up that is not
// the SDK's own (net/http's trace hook, the call slot's, the fail-fast
// arming's) is searched for through the whole chain: the router and its
// middleware put 13 levels under the SDK's 12, and context.value was 4.7%
// of the scanners' CPU profile (make load) against 1.3% of bench/floor's.
func finishWithin(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	base, cancelBase := context.Background(), context.CancelFunc(func() {})
	if d, ok := parent.Deadline(); ok && grace < 0 {
		base, cancelBase = context.WithDeadline(base, d)
	}
	ctx, cancel := context.WithCancel(base)
	end := func() { cancel(); cancelBase() }
	if grace < 0 {
		stop := context.AfterFunc(parent, end)
		if parent.Err() != nil {
			end() // at once, as a child of parent would be
		}
		return ctx, func() { stop(); end() }
	}
	var timer *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(parent, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(grace, end)
	})
	return ctx, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		end()
	}
}
