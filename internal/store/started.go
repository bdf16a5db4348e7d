package store

import (
	"sync"

	"github.com/cybsecops/configreport/internal/events"
)

// StartedCache keeps decoded RunStarted events. A run's RunStarted never
// changes once recorded (first write wins), and the aggregator reads the
// run after every result to see whether it is complete: decoding a
// 5,000-account RunStarted each time was most of the cost of handling a
// result. Implementations decode each one once, under a key that names the
// recorded write. The cache is bounded; the oldest entry goes first.
type StartedCache struct {
	mu    sync.Mutex
	max   int
	m     map[string]*events.RunStarted
	order []string
}

// NewStartedCache holds up to max runs (a handful are live at once).
func NewStartedCache(max int) *StartedCache {
	return &StartedCache{max: max, m: make(map[string]*events.RunStarted, max)}
}

// Peek returns the cached value for key, if any, without decoding.
func (c *StartedCache) Peek(key string) (*events.RunStarted, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

// Get returns the cached value for key, or decodes, caches and returns it.
// The value is shared: callers must not modify it.
func (c *StartedCache) Get(key string, decode func() (*events.RunStarted, error)) (*events.RunStarted, error) {
	c.mu.Lock()
	if v, ok := c.m[key]; ok {
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()
	v, err := decode()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[key]; ok {
		return prev, nil
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[key] = v
	c.order = append(c.order, key)
	return v, nil
}
