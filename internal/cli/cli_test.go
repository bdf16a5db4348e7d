package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func newFS() (*flag.FlagSet, *string, *int, *time.Duration, *Strings) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	q := fs.String("scan-queue-url", "", "the scan queue")
	c := fs.Int("concurrency", 32, "AWS calls in flight")
	d := fs.Duration("deadline", 45*time.Minute, "run deadline")
	var acc Strings
	fs.Var(&acc, "account", "account id (repeatable)")
	return fs, q, c, d, &acc
}

func TestParseEnvAndPrecedence(t *testing.T) {
	env := map[string]string{"SCAN_QUEUE_URL": "http://q", "CONCURRENCY": "8", "ACCOUNT": "111111111111,222222222222"}
	fs, q, c, d, acc := newFS()
	err := Parse(fs, []string{"-concurrency", "64", "-deadline", "1h"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if *q != "http://q" || *c != 64 || *d != time.Hour || len(*acc) != 2 {
		t.Errorf("got q=%q c=%d d=%v acc=%v; want env fill and flag precedence", *q, *c, *d, *acc)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-concurrency", "x"}, nil, "concurrency"},
		{nil, map[string]string{"CONCURRENCY": "many", "DEADLINE": "soon"}, "CONCURRENCY=\"many\""},
		{[]string{"stray"}, nil, "unexpected argument"},
		{[]string{"-nope"}, nil, "nope"},
	}
	for _, tt := range tests {
		fs, _, _, _, _ := newFS()
		err := Parse(fs, tt.args, func(k string) string { return tt.env[k] })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%v, %v) = %v, want mention of %q", tt.args, tt.env, err, tt.want)
		}
		if err != nil && strings.Contains(OneLine(err), "\n") {
			t.Errorf("OneLine kept a newline: %q", OneLine(err))
		}
	}
	fs, _, _, _, _ := newFS()
	err := Parse(fs, nil, func(k string) string {
		return map[string]string{"CONCURRENCY": "many", "DEADLINE": "soon"}[k]
	})
	if !strings.Contains(err.Error(), "DEADLINE") || !strings.Contains(err.Error(), "CONCURRENCY") {
		t.Errorf("want every bad variable reported, got %v", err)
	}
}

func TestUsageNamesEnv(t *testing.T) {
	fs, _, _, _, _ := newFS()
	var b bytes.Buffer
	Usage(&b, fs, "trigger: opens a run")
	for _, want := range []string{"trigger: opens a run", "-scan-queue-url", "(env SCAN_QUEUE_URL)", `(default "32")`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(&b, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hidden")
	l.Info("shown", "account_id", "012345678901")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"account_id":"012345678901"`) {
		t.Errorf("log = %s", b.String())
	}
	if _, err := NewLogger(&b, "xml", "info"); err == nil {
		t.Error("bad format accepted")
	}
	if _, err := NewLogger(&b, "text", "loud"); err == nil {
		t.Error("bad level accepted")
	}
}
