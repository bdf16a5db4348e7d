package discover

import (
	"strings"
	"testing"

	"github.com/cybsecops/configreport/internal/ident"
)

func TestFilterMatch(t *testing.T) {
	const (
		a1 = ident.AccountID("111111111111")
		a2 = ident.AccountID("222222222222")
	)
	tests := []struct {
		name                     string
		incA, excA, incOU, excOU string
		id                       ident.AccountID
		path                     string
		want                     bool
	}{
		{name: "no filter keeps all", id: a1, path: "Root/Prod", want: true},
		{name: "include account", incA: "111111111111", id: a1, path: "Root/Sandbox", want: true},
		{name: "include account, other", incA: "111111111111", id: a2, path: "Root/Sandbox", want: false},
		{name: "include OU exact", incOU: "Root/Prod", id: a1, path: "Root/Prod", want: true},
		{name: "include OU below", incOU: "Root/Prod", id: a1, path: "Root/Prod/Payments", want: true},
		{name: "include OU is segment-wise", incOU: "Root/Prod", id: a1, path: "Root/Production", want: false},
		{name: "include OU trailing slash", incOU: "Root/Prod/", id: a1, path: "Root/Prod/Payments", want: true},
		{name: "include Root keeps all", incOU: "Root", id: a1, path: "Root/Anything", want: true},
		{name: "includes add up: account", incA: "222222222222", incOU: "Root/Prod", id: a2, path: "Root/Sandbox", want: true},
		{name: "includes add up: OU", incA: "222222222222", incOU: "Root/Prod", id: a1, path: "Root/Prod", want: true},
		{name: "includes add up: neither", incA: "222222222222", incOU: "Root/Prod", id: a1, path: "Root/Dev", want: false},
		{name: "exclude account", excA: "111111111111", id: a1, path: "Root", want: false},
		{name: "exclude account, other", excA: "111111111111", id: a2, path: "Root", want: true},
		{name: "exclude OU below", excOU: "Root/Sandbox", id: a1, path: "Root/Sandbox/Team", want: false},
		{name: "exclude OU is segment-wise", excOU: "Root/Sand", id: a1, path: "Root/Sandbox", want: true},
		{name: "exclude wins over include account", incA: "111111111111", excOU: "Root/Prod", id: a1, path: "Root/Prod", want: false},
		{name: "exclude wins over include OU", incOU: "Root/Prod", excA: "111111111111", id: a1, path: "Root/Prod", want: false},
		{name: "exclude subtree of included OU", incOU: "Root/Prod", excOU: "Root/Prod/Legacy", id: a1, path: "Root/Prod/Legacy/X", want: false},
		{name: "included OU outside excluded subtree", incOU: "Root/Prod", excOU: "Root/Prod/Legacy", id: a1, path: "Root/Prod/Payments", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.incA, tt.excA, tt.incOU, tt.excOU)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.id, tt.path); got != tt.want {
				t.Errorf("Match(%s, %q) = %v, want %v (filter %+v)", tt.id, tt.path, got, tt.want, f)
			}
			// The walk may skip an OU only when nothing below it matches.
			if tt.want && !f.descend(tt.path) {
				t.Errorf("descend(%q) = false, but an account there matches", tt.path)
			}
		})
	}
}

func TestFilterDescend(t *testing.T) {
	tests := []struct {
		name        string
		incA, incOU string
		excOU       string
		path        string
		want        bool
	}{
		{name: "no filter", path: "Root/X", want: true},
		{name: "above an included OU", incOU: "Root/Prod/Payments", path: "Root/Prod", want: true},
		{name: "inside an included OU", incOU: "Root/Prod", path: "Root/Prod/Payments", want: true},
		{name: "beside an included OU", incOU: "Root/Prod", path: "Root/Sandbox", want: false},
		{name: "segment-wise", incOU: "Root/Prod", path: "Root/Production", want: false},
		{name: "account includes need every OU", incA: "111111111111", incOU: "Root/Prod", path: "Root/Sandbox", want: true},
		{name: "excluded subtree", excOU: "Root/Sandbox", path: "Root/Sandbox/Team", want: false},
		{name: "excluded subtree even with account includes", incA: "111111111111", excOU: "Root/Sandbox", path: "Root/Sandbox", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.incA, "", tt.incOU, tt.excOU)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.descend(tt.path); got != tt.want {
				t.Errorf("descend(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseFilterReportsEveryProblem(t *testing.T) {
	_, err := ParseFilter("12345, 111111111111", "abcdefghijkl", "Prod,Root//X", "Root/A,/Root")
	if err == nil {
		t.Fatal("ParseFilter accepted bad values")
	}
	for _, want := range []string{`"12345"`, `"abcdefghijkl"`, `"Prod"`, `"Root//X"`, `"/Root"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "111111111111") || strings.Contains(err.Error(), `"Root/A"`) {
		t.Errorf("error names a good value:\n%v", err)
	}
}

func TestParseFilterEmpty(t *testing.T) {
	f, err := ParseFilter("", " , ", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !f.IsZero() {
		t.Errorf("empty flags gave %+v", f)
	}
}
