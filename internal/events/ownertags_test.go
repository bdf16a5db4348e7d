package events

import (
	"slices"
	"strings"
	"testing"
)

func TestParseOwnerTags(t *testing.T) {
	tests := []struct {
		in      string
		headers []string
		keys    []string
		err     string
	}{
		{"", nil, nil, ""},
		{"  ", nil, nil, ""},
		{"Owner", []string{"Owner"}, []string{"Owner"}, ""},
		{"Owner|owner,Team", []string{"Owner", "Team"}, []string{"Owner", "owner", "Team"}, ""},
		{" Owner | owner , Team ", []string{"Owner", "Team"}, []string{"Owner", "owner", "Team"}, ""},
		{"Owner|owner,owner", []string{"Owner", "owner"}, []string{"Owner", "owner"}, ""},
		{"Owner,,Team", nil, nil, "entry 2"},
		{"Owner|,Team", nil, nil, "entry 1"},
		{"Owner,Owner|x", nil, nil, `column "Owner" named twice`},
		{strings.Repeat("k", 129), nil, nil, "129 characters"},
	}
	for _, tt := range tests {
		got, err := ParseOwnerTags(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOwnerTags(%q) = %v, %v; want an error naming %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOwnerTags(%q): %v", tt.in, err)
			continue
		}
		var headers []string
		for _, o := range got {
			headers = append(headers, o.Header())
		}
		if !slices.Equal(headers, tt.headers) || !slices.Equal(OwnerTagKeys(got), tt.keys) {
			t.Errorf("ParseOwnerTags(%q) headers %v keys %v, want %v %v", tt.in, headers, OwnerTagKeys(got), tt.headers, tt.keys)
		}
		if again, _ := ParseOwnerTags(FormatOwnerTags(got)); len(got) > 0 && FormatOwnerTags(again) != FormatOwnerTags(got) {
			t.Errorf("Format/Parse of %q does not round-trip", tt.in)
		}
	}
}

func TestOwnerTagValue(t *testing.T) {
	tags, _ := ParseOwnerTags("Owner|owner,Team")
	tests := []struct {
		tags        map[string]string
		owner, team string
	}{
		{map[string]string{"Owner": "a@x", "Team": "pay"}, "a@x", "pay"},
		{map[string]string{"owner": "b@x"}, "b@x", ""},
		{map[string]string{"Owner": "", "owner": "c@x"}, "c@x", ""}, // the first non-empty wins
		{map[string]string{"Owner": "a@x", "owner": "b@x"}, "a@x", ""},
		{nil, "", ""},
	}
	for _, tt := range tests {
		if o, tm := tags[0].Value(tt.tags), tags[1].Value(tt.tags); o != tt.owner || tm != tt.team {
			t.Errorf("Value(%v) = %q, %q; want %q, %q", tt.tags, o, tm, tt.owner, tt.team)
		}
	}
}
