package app_test

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/ident"
)

func TestTriggerFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string
		check   func(t *testing.T, c app.TriggerConfig)
	}{
		{
			name: "scheduled defaults",
			args: []string{"-regions", "us-east-1, ap-east-1"},
			check: func(t *testing.T, c app.TriggerConfig) {
				if !slices.Equal(c.Run.Regions, []ident.Region{"us-east-1", "ap-east-1"}) || c.Run.Deadline != 45*time.Minute || c.Run.RunID != "" || len(c.Run.Accounts) != 0 || !c.Filter.IsZero() || c.OrgConcurrency != 4 {
					t.Errorf("config %+v", c)
				}
			},
		},
		{
			name: "ad hoc with filters and run id",
			args: []string{"-regions", "eu-west-1", "-account", "111111111111,222222222222", "-run-id", "rerun.1", "-deadline", "2h", "-exclude-ous", "Root/Sandbox/", "-include-accounts", "333333333333"},
			check: func(t *testing.T, c app.TriggerConfig) {
				if len(c.Run.Accounts) != 2 || c.Run.RunID != "rerun.1" || c.Run.Deadline != 2*time.Hour ||
					!slices.Equal(c.Filter.ExcludeOUs, []string{"Root/Sandbox"}) || len(c.Filter.IncludeAccounts) != 1 {
					t.Errorf("config %+v", c)
				}
			},
		},
		{
			name:    "every problem at once",
			args:    []string{"-regions", "us-east-1,us-east-1", "-account", "12", "-include-ous", "Prod", "-exclude-accounts", "x", "-publish-concurrency", "65"},
			wantErr: []string{"-account", `"12"`, "-regions", "listed twice", `"Prod"`, `"x"`, "publish concurrency 65"},
		},
		{
			name: "owner tags",
			args: []string{"-regions", "us-east-1", "-owner-tags", "Owner|owner,Team"},
			check: func(t *testing.T, c app.TriggerConfig) {
				if len(c.OwnerTags) != 2 || !slices.Equal(c.OwnerTags[0].Keys, []string{"Owner", "owner"}) || !slices.Equal(c.OwnerTags[1].Keys, []string{"Team"}) {
					t.Errorf("owner tags %+v", c.OwnerTags)
				}
			},
		},
		{
			name: "no owner tags by default",
			args: []string{"-regions", "us-east-1"},
			check: func(t *testing.T, c app.TriggerConfig) {
				if c.OwnerTags != nil {
					t.Errorf("owner tags %+v, want none", c.OwnerTags)
				}
			},
		},
		{
			name:    "bad owner tags",
			args:    []string{"-regions", "us-east-1", "-owner-tags", "Owner,,Owner"},
			wantErr: []string{"-owner-tags", `column "Owner" named twice`},
		},
		{
			name:    "no regions",
			args:    nil,
			wantErr: []string{"regions: at least one"},
		},
		{
			name:    "bad run id and deadline",
			args:    []string{"-regions", "us-east-1", "-run-id", "a/b", "-deadline", "500ms", "-org-concurrency", "100"},
			wantErr: []string{"run id", "deadline 500ms", "org concurrency 100"},
		},
		{
			// The aggregator refuses a RunStarted longer than a week.
			name:    "deadline past the longest run",
			args:    []string{"-regions", "us-east-1", "-deadline", "168h1s"},
			wantErr: []string{"deadline 168h0m1s: want 1s to 168h0m0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f app.TriggerFlags
			fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
			f.Register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := f.Config()
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %s:\n%v", w, err)
					}
				}
				if strings.Count(err.Error(), `"Prod"`) > 1 {
					t.Errorf("a problem is reported twice:\n%v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
