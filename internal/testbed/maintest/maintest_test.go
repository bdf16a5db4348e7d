package maintest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	Main(m, "echo", func() {
		fmt.Println(strings.Join(os.Args, "|"))
		fmt.Fprintln(os.Stderr, os.Getenv("EXTRA")+os.Getenv("AWS_REGION"))
		if len(os.Args) > 1 && os.Args[1] == "fail" {
			os.Exit(3)
		}
	})
}

func TestRun(t *testing.T) {
	tests := []struct {
		name        string
		env         []string
		args        []string
		code        int
		out, errOut string
	}{
		{"no arguments", nil, nil, 0, "echo\n", "\n"},
		{"arguments with spaces kept whole", []string{"EXTRA=x"}, []string{"a b", "-c"}, 0, "echo|a b|-c\n", "x\n"},
		{"exit status", nil, []string{"fail"}, 3, "echo|fail\n", "\n"},
		{"fake AWS environment", FakeAWS(t), nil, 0, "echo\n", "us-east-1\n"},
	}
	t.Setenv("AWS_REGION", "eu-west-1") // not passed on
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Run(t, tt.env, tt.args...)
			if r.Code != tt.code || r.Stdout != tt.out || r.Stderr != tt.errOut {
				t.Errorf("got %d %q %q, want %d %q %q", r.Code, r.Stdout, r.Stderr, tt.code, tt.out, tt.errOut)
			}
		})
	}
}
