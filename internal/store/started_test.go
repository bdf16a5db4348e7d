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

func TestStartedCachePeek(t *testing.T) {
	c := NewStartedCache(1)
	if _, ok := c.Peek("a"); ok {
		t.Fatal("Peek found a key never decoded")
	}
	want := &events.RunStarted{RunID: "a"}
	if _, err := c.Get("a", func() (*events.RunStarted, error) { return want, nil }); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Peek("a"); !ok || got != want {
		t.Errorf("Peek(a) = %v, %v; want the decoded value", got, ok)
	}
	if _, err := c.Get("b", func() (*events.RunStarted, error) { return &events.RunStarted{}, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Peek("a"); ok {
		t.Error("Peek found an evicted key")
	}
}
