package ident

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAccountID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"123456789012", true},
		{"012345678901", true},
		{"12345678901", false},
		{"1234567890123", false},
		{"12345678901a", false},
		{" 123456789012", false},
		{"", false},
		{"１２３４５６７８９０１２", false}, // full-width digits are not ASCII digits
	}
	for _, tt := range tests {
		got, err := ParseAccountID(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseAccountID(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.ok && string(got) != tt.in {
			t.Errorf("ParseAccountID(%q) = %q", tt.in, got)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("error %v does not wrap ErrInvalid", err)
		}
	}
}

func TestParseRegion(t *testing.T) {
	for in, ok := range map[string]bool{
		"us-east-1": true, "ap-east-1": true, "eu-central-2": true, "us-gov-west-1": true,
		"us-iso-east-1": true, "us-isob-east-1": true, "cn-north-1": true, "ap-southeast-7": true,
		"US-EAST-1": false, "us-east": false, "useast1": false, "": false, "us-east-1 ": false,
		"us-east-1/../x": false,
	} {
		if _, err := ParseRegion(in); (err == nil) != ok {
			t.Errorf("ParseRegion(%q) err = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestParseRunID(t *testing.T) {
	for in, ok := range map[string]bool{
		"01JABCDEF": true, "weekly-2026.11.23_1": true, strings.Repeat("a", 64): true,
		strings.Repeat("a", 65): false, "": false, "a/b": false, "a b": false, "..%2f": false,
		".": false, "..": false, "...": false, "a..b": true,
	} {
		if _, err := ParseRunID(in); (err == nil) != ok {
			t.Errorf("ParseRunID(%q) err = %v, want ok=%v", in, err, ok)
		}
	}
	id := NewRunID(time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC))
	if _, err := ParseRunID(string(id)); err != nil || len(id) != 26 {
		t.Errorf("NewRunID = %q, %v", id, err)
	}
}

func TestParseRoleARN(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want RoleARN
	}{
		{"arn:aws:iam::111111111111:role/system-config-report-generator-list-org-role", true,
			RoleARN{"aws", "111111111111", "/", "system-config-report-generator-list-org-role"}},
		{"arn:aws-us-gov:iam::111111111111:role/team/sec/reader", true, RoleARN{"aws-us-gov", "111111111111", "/team/sec/", "reader"}},
		{"arn:aws:iam::11111111111:role/x", false, RoleARN{}},
		{"arn:aws:iam::111111111111:user/x", false, RoleARN{}},
		{"arn:aws:sts::111111111111:assumed-role/x/y", false, RoleARN{}},
		{"arn:aws:iam::111111111111:role/", false, RoleARN{}},
	}
	for _, tt := range tests {
		got, err := ParseRoleARN(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseRoleARN(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok {
			if got != tt.want {
				t.Errorf("ParseRoleARN(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		}
	}
	if got := RoleIn("", "222222222222", "r").String(); got != "arn:aws:iam::222222222222:role/r" {
		t.Errorf("RoleIn = %q", got)
	}
}

func TestParseLists(t *testing.T) {
	ids, err := ParseAccountIDs(" 111111111111, 222222222222,,")
	if err != nil || len(ids) != 2 {
		t.Fatalf("ParseAccountIDs = %v, %v", ids, err)
	}
	_, err = ParseAccountIDs("1,2,111111111111")
	if err == nil || strings.Count(err.Error(), "account id") != 2 {
		t.Errorf("want both bad ids reported, got %v", err)
	}
	rs, err := ParseRegions("us-east-1,ap-east-1")
	if err != nil || len(rs) != 2 || rs[0] != "us-east-1" || rs[1] != "ap-east-1" {
		t.Errorf("ParseRegions = %v, %v", rs, err)
	}
	if _, err := ParseRegions("us-east-1,us-east-1"); err == nil {
		t.Error("duplicate region accepted")
	}
}

func FuzzParseRoleARN(f *testing.F) {
	f.Add("arn:aws:iam::111111111111:role/a/b/c")
	f.Add("arn:aws:iam::111111111111:role/")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseRoleARN(s)
		if err != nil {
			return
		}
		if a.String() != s {
			t.Fatalf("round trip %q -> %q", s, a.String())
		}
		if _, err := ParseAccountID(string(a.Account)); err != nil {
			t.Fatalf("parsed account %q invalid", a.Account)
		}
	})
}

// FuzzParse: what the validators accept can go into an ARN, a store key or
// an S3 key unescaped: no separators, no spaces, no dot segments.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"123456789012", "012345678901", "us-east-1", "us-gov-west-1", "01JABCDEF", "a/b", "..", "x y", "१२३४५६७८९०१२"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := ParseAccountID(s); err == nil {
			if len(a) != 12 || strings.Trim(string(a), "0123456789") != "" {
				t.Fatalf("accepted account id %q", s)
			}
		}
		if r, err := ParseRegion(s); err == nil {
			if strings.ContainsAny(string(r), "/ :.") || len(r) > 30 {
				t.Fatalf("accepted region %q", s)
			}
		}
		if id, err := ParseRunID(s); err == nil {
			if strings.ContainsAny(string(id), "/\\ :") || id == "." || id == ".." || len(id) > 64 {
				t.Fatalf("accepted run id %q", s)
			}
		}
		if n, err := ParseRoleName(s); err == nil && strings.ContainsAny(string(n), "/: ") {
			t.Fatalf("accepted role name %q", s)
		}
	})
}
