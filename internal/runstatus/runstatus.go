// Package runstatus is the logic of `configreport runs`: it lists the
// dedupe store's recent runs (run id, trigger, started, the counts of
// expected, reported, failed and missing accounts, emission, report key,
// ticket) and, for `runs show ID`, one run with the accounts not yet
// reported, as an aligned table or as JSON for scripts.
//
// It reads through store.RunLister only and never writes: it is an
// operator's view, not part of the pipeline. OpenStore opens DynamoDB's
// store or local mode's SQLite file; tests pass their own Opener.
package runstatus

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// Name is the command's name in messages.
const Name = "configreport"

// Summary is the command's --help text.
const Summary = `configreport runs: the status of recent report runs, from the dedupe store.

Usage:
  configreport runs [flags]            recent runs, the latest started first
  configreport runs show ID [flags]    one run, and the accounts not yet reported

The store is DynamoDB's (-dynamodb-table, the aggregator's table; the
credentials, region and endpoint come from the SDK's standard configuration,
and must allow dynamodb:Scan, GetItem and Query on the table) or local
mode's SQLite file under its -out folder. It is only read, never written.

Columns: EXPECTED is the accounts the run's RunStarted lists; REPORTED those
with a recorded result; FAILED those whose result is failed (AssumeRole
refused, or every region failed); MISSING those without a result (MISSING
rows once the report is emitted). STATE is open (collecting results),
overdue (past its deadline, not emitted yet), emitted, or joined (an ad-hoc
run that joined the open ad-hoc run of its account, named after it).

Exit status: 0 on success, 1 on a runtime failure (the store unreachable,
an unknown run id), 2 for bad configuration.`

// ErrConfig marks an Open error that is the configuration's fault (exit
// 2): wrap one with ConfigError.
var ErrConfig = errors.New("configuration")

type configError struct{ error }

func (e configError) Is(target error) bool { return target == ErrConfig }
func (e configError) Unwrap() error        { return e.error }

// ConfigError marks err as the configuration's fault, its message unchanged.
func ConfigError(err error) error { return configError{err} }

// Lister is what the command reads: store.RunLister.
type Lister interface {
	Recent(ctx context.Context, limit int) ([]store.RunSummary, error)
	RunSummary(ctx context.Context, id ident.RunID) (store.RunSummary, error)
}

// Source says which store to read; exactly one of Table and Out is set.
type Source struct {
	// Table is the DynamoDB table (-dynamodb-table).
	Table string
	// Out is local mode's -out folder, holding its SQLite file.
	Out string
}

// String names the store in messages.
func (s Source) String() string {
	if s.Table != "" {
		return "DynamoDB table " + s.Table
	}
	return "local store under " + s.Out
}

// Opener opens the store; close is called once the command is done. An
// error wrapping ErrConfig exits 2, any other 1.
type Opener func(ctx context.Context, src Source) (l Lister, close func() error, err error)

// Env is the command's world: arguments come separately.
type Env struct {
	Getenv         func(string) string
	Stdout, Stderr io.Writer
	Open           Opener
	// Now tells overdue runs from open ones; default time.Now.
	Now func() time.Time
}

type config struct {
	Source
	limit  int
	format string
	show   ident.RunID
}

// Main runs the command on args (os.Args[1:], starting with "runs") and
// returns the exit status.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	cfg, help, err := parse(args, env.Getenv)
	if help {
		usage(env.Stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %s\n", Name, cli.OneLine(err))
		return 2
	}
	l, closeFn, err := env.Open(ctx, cfg.Source)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %s\n", Name, cli.OneLine(err))
		if errors.Is(err, ErrConfig) {
			return 2
		}
		return 1
	}
	defer closeFn()
	if err := run(ctx, cfg, l, env); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %s\n", Name, cli.OneLine(err))
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fs, _ := newFlags()
	cli.Usage(w, fs, Summary)
}

func newFlags() (*flag.FlagSet, *config) {
	cfg := new(config)
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	fs.StringVar(&cfg.Table, "dynamodb-table", "", "DynamoDB table of the dedupe store (the aggregator's); or -out")
	fs.StringVar(&cfg.Out, "out", "", "local mode's -out folder, whose SQLite store is read; or -dynamodb-table")
	fs.IntVar(&cfg.limit, "limit", 20, "runs listed at most, the latest started first")
	fs.StringVar(&cfg.format, "format", "text", "output: text (an aligned table) or json (for scripts)")
	return fs, cfg
}

// parse reads "runs [show ID]" and the flags, which may come before,
// between or after the words (every flag takes a value). help is true
// for -h, -help or --help anywhere.
func parse(args []string, getenv func(string) string) (config, bool, error) {
	fs, cfg := newFlags()
	var words, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "-help" || a == "--help":
			return *cfg, true, nil
		case a == "--":
			words = append(words, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			words = append(words, a)
		}
	}
	if len(words) > 0 && words[0] == "help" {
		return *cfg, true, nil
	}
	if err := cli.Parse(fs, flags, getenv); err != nil {
		return *cfg, false, err
	}
	var errs []error
	switch {
	case len(words) == 0:
		errs = append(errs, errors.New("no command given (want runs or runs show ID; see -help)"))
	case words[0] != "runs":
		errs = append(errs, fmt.Errorf("unknown command %q (want runs; see -help)", words[0]))
	case len(words) == 1:
	case words[1] != "show":
		errs = append(errs, fmt.Errorf("unknown runs subcommand %q (want runs or runs show ID)", words[1]))
	case len(words) != 3:
		errs = append(errs, errors.New("runs show takes exactly one run id"))
	default:
		id, err := ident.ParseRunID(words[2])
		errs = append(errs, err)
		cfg.show = id
	}
	if (cfg.Table == "") == (cfg.Out == "") {
		errs = append(errs, errors.New("give exactly one of -dynamodb-table (DYNAMODB_TABLE) and -out (OUT)"))
	}
	if cfg.limit <= 0 {
		errs = append(errs, fmt.Errorf("-limit %d: want a positive number", cfg.limit))
	}
	if cfg.format != "text" && cfg.format != "json" {
		errs = append(errs, fmt.Errorf("-format %q: want text or json", cfg.format))
	}
	return *cfg, false, errors.Join(errs...)
}

func run(ctx context.Context, cfg config, l Lister, env Env) error {
	now := env.Now()
	if cfg.show != "" {
		sum, err := l.RunSummary(ctx, cfg.show)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("run %s: not found in the %s", cfg.show, cfg.Source)
		}
		if err != nil {
			return err
		}
		v := detailOf(sum, now)
		if cfg.format == "json" {
			return writeJSON(env.Stdout, v)
		}
		return writeShow(env.Stdout, v)
	}
	runs, err := l.Recent(ctx, cfg.limit)
	if err != nil {
		return err
	}
	rows := make([]Row, 0, len(runs))
	for _, sum := range runs {
		rows = append(rows, rowOf(sum, now))
	}
	if cfg.format == "json" {
		return writeJSON(env.Stdout, rows)
	}
	return writeTable(env.Stdout, rows, cfg.Source)
}

// Row is one run as listed (and, in JSON, as scripts read it).
type Row struct {
	RunID     ident.RunID    `json:"run_id"`
	Trigger   events.Trigger `json:"trigger"`
	StartedAt *time.Time     `json:"started_at"`
	Deadline  *time.Time     `json:"deadline"`
	State     string         `json:"state"`
	JoinedTo  ident.RunID    `json:"joined_to,omitempty"`
	Expected  int            `json:"expected"`
	Reported  int            `json:"reported"`
	Failed    int            `json:"failed"`
	Missing   int            `json:"missing"`
	EmittedAt *time.Time     `json:"emitted_at"`
	ReportKey string         `json:"report_key"`
	Ticket    string         `json:"ticket"`
}

// Detail is one run with the accounts not yet reported (runs show).
type Detail struct {
	Row
	// FindingsKey is where the run's findings file is, once emitted.
	FindingsKey string `json:"findings_key"`
	// Baseline is the run its Changes sheet compares with: nil while not
	// fixed (before the first claim) or fixed to none (BaselineFixed).
	Baseline      *Baseline        `json:"baseline"`
	BaselineFixed bool             `json:"baseline_fixed"`
	Unreported    []events.Account `json:"unreported"`
}

// Baseline is the run a report compares with.
type Baseline struct {
	RunID       ident.RunID `json:"run_id"`
	GeneratedAt *time.Time  `json:"generated_at"`
	FindingsKey string      `json:"findings_key"`
}

// States of a run, as listed.
const (
	StateOpen     = "open"
	StateOverdue  = "overdue"
	StateEmitted  = "emitted"
	StateJoined   = "joined"
	StateNoRunYet = "no-runstarted" // results arrived, the RunStarted not yet
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func rowOf(sum store.RunSummary, now time.Time) Row {
	r := Row{
		RunID: sum.RunID, Expected: sum.Expected, Reported: sum.Reported, Failed: sum.Failed, Missing: sum.Missing,
		EmittedAt: timePtr(sum.EmittedAt), ReportKey: sum.ReportKey, Ticket: sum.TicketKey, JoinedTo: sum.JoinedTo,
	}
	if s := sum.Started; s != nil {
		r.Trigger, r.StartedAt, r.Deadline = s.Trigger, timePtr(s.StartedAt), timePtr(s.Deadline)
	}
	switch {
	case sum.Emitted:
		r.State = StateEmitted
	case sum.JoinedTo != "":
		r.State = StateJoined
	case sum.Started == nil:
		r.State = StateNoRunYet
	case now.After(sum.Started.Deadline):
		r.State = StateOverdue
	default:
		r.State = StateOpen
	}
	return r
}

func detailOf(sum store.RunSummary, now time.Time) Detail {
	d := Detail{Row: rowOf(sum, now), FindingsKey: sum.FindingsKey, BaselineFixed: sum.BaselineFixed, Unreported: sum.Unreported}
	if b := sum.Baseline; b != nil {
		d.Baseline = &Baseline{RunID: b.RunID, GeneratedAt: timePtr(b.GeneratedAt), FindingsKey: b.FindingsKey}
	}
	if d.Unreported == nil {
		d.Unreported = []events.Account{}
	}
	return d
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func (r Row) state() string {
	if r.State == StateJoined {
		return "joined " + string(r.JoinedTo)
	}
	return r.State
}

func writeTable(w io.Writer, rows []Row, src Source) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintf(w, "no runs in the %s\n", src)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tTRIGGER\tSTARTED\tSTATE\tEXPECTED\tREPORTED\tFAILED\tMISSING\tEMITTED AT\tREPORT KEY\tTICKET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.RunID, orDash(string(r.Trigger)), fmtTime(r.StartedAt), r.state(),
			r.Expected, r.Reported, r.Failed, r.Missing, fmtTime(r.EmittedAt), orDash(r.ReportKey), orDash(r.Ticket))
	}
	return tw.Flush()
}

// baseline says what the run compares with, as runs show prints it.
func (d Detail) baseline() string {
	switch {
	case d.Baseline != nil:
		return fmt.Sprintf("%s (generated %s)", d.Baseline.RunID, fmtTime(d.Baseline.GeneratedAt))
	case d.BaselineFixed:
		return "none"
	default:
		return "not fixed yet (fixed when the report is first claimed)"
	}
}

func writeShow(w io.Writer, d Detail) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"run id", string(d.RunID)},
		{"trigger", orDash(string(d.Trigger))},
		{"started", fmtTime(d.StartedAt)},
		{"deadline", fmtTime(d.Deadline)},
		{"state", d.state()},
		{"expected", fmt.Sprint(d.Expected)},
		{"reported", fmt.Sprint(d.Reported)},
		{"failed", fmt.Sprint(d.Failed)},
		{"missing", fmt.Sprint(d.Missing)},
		{"emitted at", fmtTime(d.EmittedAt)},
		{"report key", orDash(d.ReportKey)},
		{"findings key", orDash(d.FindingsKey)},
		{"baseline", d.baseline()},
		{"ticket", orDash(d.Ticket)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case d.StartedAt == nil:
		_, err := fmt.Fprintln(w, "\nno RunStarted recorded yet: the expected accounts are not known")
		return err
	case len(d.Unreported) == 0:
		_, err := fmt.Fprintln(w, "\nevery expected account has reported")
		return err
	}
	if d.State == StateEmitted {
		fmt.Fprintf(w, "\naccounts that never reported, MISSING in the report (%d):\n", len(d.Unreported))
	} else {
		fmt.Fprintf(w, "\naccounts not yet reported (%d):\n", len(d.Unreported))
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT ID\tNAME\tOU PATH")
	for _, a := range d.Unreported {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.AccountID, orDash(a.Name), orDash(a.OUPath))
	}
	return tw.Flush()
}
