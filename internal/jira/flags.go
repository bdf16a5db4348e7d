package jira

import (
	"errors"
	"flag"
	"log/slog"

	"github.com/cybsecops/configreport/internal/cli"
)

// Flags are the Notifier's flags, as given. Register them on the binary's
// FlagSet (cli.Parse fills each from its environment variable: -jira-url
// from JIRA_URL, ...), then call Notifier. The token is never a flag.
type Flags struct {
	URL, Project, IssueType, User, TokenFile string
	Labels                                   cli.Strings
}

// Register adds -jira-url, -jira-project, -jira-issue-type, -jira-labels,
// -jira-user and -jira-token-file to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.URL, "jira-url", "", "Jira site, https only, e.g. https://example.atlassian.net (empty: no ticket; http is refused unless the host is loopback)")
	fs.StringVar(&f.Project, "jira-project", "", "Jira project key")
	fs.StringVar(&f.IssueType, "jira-issue-type", "Task", "Jira issue type")
	fs.Var(&f.Labels, "jira-labels", "comma-separated labels of every ticket (the run's label is added)")
	fs.StringVar(&f.User, "jira-user", "", "Jira Cloud account e-mail (basic auth with the token); empty: the token is a bearer personal access token")
	fs.StringVar(&f.TokenFile, "jira-token-file", "", "file holding the Jira API token (default: $"+TokenEnv+")")
}

// Notifier checks the flags and returns the Notifier, or nil and no error
// when -jira-url is empty (no ticket). Every problem is in the error, the
// token never. getenv is os.Getenv outside tests.
func (f Flags) Notifier(getenv func(string) string, logger *slog.Logger) (*Notifier, error) {
	if f.URL == "" {
		return nil, nil
	}
	token, terr := LoadToken(f.TokenFile, getenv)
	n, err := New(Config{URL: f.URL, Project: f.Project, IssueType: f.IssueType, Labels: f.Labels, User: f.User, Token: token}, logger)
	if err = errors.Join(terr, err); err != nil {
		return nil, err
	}
	return n, nil
}
