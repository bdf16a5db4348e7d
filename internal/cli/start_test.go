package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestLoggingRegister(t *testing.T) {
	tests := []struct {
		name     string
		defaults Logging
		args     []string
		env      map[string]string
		want     Logging
		wantErr  string // from Logger; empty: none
		wantHelp string
	}{
		{"defaults kept", Logging{"json", "info"}, nil, nil, Logging{"json", "info"}, "", "log format: json or text"},
		{"text first when the default", Logging{"text", "warn"}, nil, nil, Logging{"text", "warn"}, "", "log format: text or json"},
		{"flags win", Logging{"json", "info"}, []string{"-log-format", "text", "-log-level", "debug"}, nil, Logging{"text", "debug"}, "", ""},
		{"environment fills", Logging{"json", "info"}, nil, map[string]string{"LOG_LEVEL": "error"}, Logging{"json", "error"}, "", ""},
		{"bad level", Logging{"json", "info"}, []string{"-log-level", "loud"}, nil, Logging{"json", "loud"}, `log level "loud"`, ""},
		{"bad format", Logging{"json", "info"}, []string{"-log-format", "xml"}, nil, Logging{"xml", "info"}, `log format "xml"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			l := tt.defaults
			l.Register(fs)
			if err := Parse(fs, tt.args, func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if l != tt.want {
				t.Errorf("got %+v, want %+v", l, tt.want)
			}
			_, err := l.Logger(&bytes.Buffer{})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Logger: %v, want %q", err, tt.wantErr)
			}
			if tt.wantHelp != "" {
				var b bytes.Buffer
				Usage(&b, fs, "s")
				if !strings.Contains(b.String(), tt.wantHelp) {
					t.Errorf("help %q lacks %q", b.String(), tt.wantHelp)
				}
			}
		})
	}
}
