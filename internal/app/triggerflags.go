package app

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/trigger"
)

// TriggerFlags are the trigger's own command-line flags, as given: the
// run's (trigger.Config) and the walk's (the filters, the Organizations
// concurrency, the owner tags). Register them on the binary's FlagSet
// (cli.Parse then fills each from its environment variable: -run-id from
// RUN_ID, ...), then call Config.
type TriggerFlags struct {
	RunID              string
	Accounts           string
	Regions            string
	Deadline           time.Duration
	IncludeAccounts    string
	ExcludeAccounts    string
	IncludeOUs         string
	ExcludeOUs         string
	OrgRoleARN         string
	OrgConcurrency     int
	PublishConcurrency int
	OwnerTags          string
}

// Register adds the flags to fs.
func (f *TriggerFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.RunID, "run-id", "", "run id (1-64 of A-Z a-z 0-9 . _ -); empty for a new ULID. Give a failed run's id to complete it")
	fs.StringVar(&f.Accounts, "account", "", "comma-separated account ids: an ad-hoc run of just these (looked up, not walked; filters ignored)")
	fs.StringVar(&f.Regions, "regions", "", "comma-separated regions to scan every account in (required)")
	fs.DurationVar(&f.Deadline, "deadline", events.DefaultDeadline, "after this long from the run's start, the report is emitted with the missing accounts listed")
	fs.StringVar(&f.IncludeAccounts, "include-accounts", "", "comma-separated account ids to scan (with -include-ous: either matches)")
	fs.StringVar(&f.ExcludeAccounts, "exclude-accounts", "", "comma-separated account ids never to scan (exclusion wins)")
	fs.StringVar(&f.IncludeOUs, "include-ous", "", `comma-separated OU path prefixes to scan, e.g. "Root/Prod" (whole segments: not Root/Production)`)
	fs.StringVar(&f.ExcludeOUs, "exclude-ous", "", "comma-separated OU path prefixes never to scan (exclusion wins)")
	fs.StringVar(&f.OrgRoleARN, "org-role-arn", "", "ARN of the org-list role in the management account, assumed from the hub identity; empty to use the ambient credentials")
	fs.IntVar(&f.OrgConcurrency, "org-concurrency", discover.DefaultConcurrency, "Organizations calls in flight (AWS allows few per second; the SDK retries throttling)")
	fs.IntVar(&f.PublishConcurrency, "publish-concurrency", trigger.DefaultPublishConcurrency, "publish calls of up to 10 scan requests in flight")
	fs.StringVar(&f.OwnerTags, "owner-tags", "", `account tags for the report's owner columns, comma-separated, each entry's alternatives separated by "|" (e.g. "Owner|owner,Team"); read with the OU walk. Empty: no tags read`)
}

// Config parses the flags, reporting every bad value at once. The org
// role ARN is not part of it: it is checked by discover.NewClient, which
// the wiring calls with it.
func (f TriggerFlags) Config() (TriggerConfig, error) {
	var errs []error
	cfg := TriggerConfig{
		Run: trigger.Config{
			RunID:              ident.RunID(f.RunID),
			Deadline:           f.Deadline,
			PublishConcurrency: f.PublishConcurrency,
		},
		OrgConcurrency: f.OrgConcurrency,
	}
	var err error
	if cfg.Run.Accounts, err = ident.ParseAccountIDs(f.Accounts); err != nil {
		errs = append(errs, fmt.Errorf("-account: %w", err))
	}
	if cfg.Run.Regions, err = ident.ParseRegions(f.Regions); err != nil {
		errs = append(errs, fmt.Errorf("-regions: %w", err))
	}
	if cfg.OwnerTags, err = events.ParseOwnerTags(f.OwnerTags); err != nil {
		errs = append(errs, fmt.Errorf("-owner-tags: %w", err))
	}
	if cfg.Filter, err = discover.ParseFilter(f.IncludeAccounts, f.ExcludeAccounts, f.IncludeOUs, f.ExcludeOUs); err != nil {
		errs = append(errs, fmt.Errorf("filters: %w", err))
		cfg.Filter = discover.Filter{} // already reported; not again by Validate
	}
	// Validate sees only the values that parsed, so it adds the problems
	// parsing cannot see (deadline, concurrency) without repeating others.
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return TriggerConfig{}, errors.Join(errs...)
	}
	return cfg, nil
}
