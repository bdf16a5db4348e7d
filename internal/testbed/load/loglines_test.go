package load

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLogLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.log")
	log := "not json\n" +
		`{"msg":"account scanned","account_id":"111111111111"}` + "\n" +
		`{"msg":"health server listening","addr":"127.0.0.1:9"}` + "\n" +
		`{"msg":"account scanned","account_id":"222222222222"}` + "\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  string
		want int
	}{
		{"every JSON line with the msg", "account scanned", 2},
		{"one", "health server listening", 1},
		{"none", "gone", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			err := logLines(path, func(l struct {
				Msg string `json:"msg"`
			}) bool {
				if l.Msg == tt.msg {
					n++
				}
				return true
			})
			if err != nil || n != tt.want {
				t.Errorf("lines with msg %q: %d, %v; want %d", tt.msg, n, err, tt.want)
			}
		})
	}
	if addr, ok := findListenAddr(path); !ok || addr != "127.0.0.1:9" {
		t.Errorf("findListenAddr = %q, %v", addr, ok)
	}
	seen := 0
	if err := logLines(path, func(struct{}) bool { seen++; return seen < 2 }); err != nil || seen != 2 {
		t.Errorf("logLines stopped after %d lines (%v), want 2", seen, err)
	}
	if err := logLines(filepath.Join(t.TempDir(), "absent"), func(struct{}) bool { return true }); err == nil {
		t.Error("logLines of an absent file: no error")
	}
}
