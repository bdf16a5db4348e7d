package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
)

func TestStartedCache(t *testing.T) {
	c := NewStartedCache(2)
	decodes := 0
	get := func(key string) *events.RunStarted {
		t.Helper()
		v, err := c.Get(key, func() (*events.RunStarted, error) {
			decodes++
			return &events.RunStarted{RunID: "r"}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a := get("a")
	if get("a") != a || decodes != 1 {
		t.Errorf("second Get decoded again (%d decodes)", decodes)
	}
	get("b")
	get("c") // evicts a, the oldest
	if get("a"); decodes != 4 {
		t.Errorf("decodes = %d, want 4 (a evicted by c)", decodes)
	}
	boom := errors.New("boom")
	if _, err := c.Get("d", func() (*events.RunStarted, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("decode error = %v", err)
	}
	if _, err := c.Get("d", func() (*events.RunStarted, error) { return nil, fmt.Errorf("again") }); err == nil {
		t.Error("a failed decode was cached")
	}
}
