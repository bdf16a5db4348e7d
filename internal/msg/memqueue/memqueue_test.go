package memqueue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

func publishN(t *testing.T, p *PubSub, topic string, n int) {
	t.Helper()
	for i := range n {
		m := message.NewMessage(fmt.Sprintf("m%03d", i), []byte(fmt.Sprint(i)))
		m.Metadata.Set("k", "v")
		if err := p.Publish(topic, m); err != nil {
			t.Fatal(err)
		}
	}
}

// Each message reaches exactly one of several competing subscribers.
func TestCompetingConsumers(t *testing.T) {
	p := New(Config{})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n, subs = 300, 4
	publishN(t, p, "scan", n)
	var mu sync.Mutex
	seen := map[string]int{}
	perSub := make([]int, subs)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for s := range subs {
		ch, err := p.Subscribe(ctx, "scan")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range ch {
				if m.Metadata.Get("k") != "v" {
					t.Error("metadata lost")
				}
				time.Sleep(time.Millisecond) // let the others take some
				mu.Lock()
				seen[m.UUID]++
				perSub[s]++
				total := len(seen)
				mu.Unlock()
				m.Ack()
				if total == n {
					close(done)
				}
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("only %d of %d delivered", len(seen), n)
	}
	cancel()
	wg.Wait()
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
	for s, c := range perSub {
		if c == 0 {
			t.Errorf("subscriber %d got nothing: not competing consumers", s)
		}
	}
	if w, f := p.Depth("scan"); w != 0 || f != 0 {
		t.Errorf("depth after all acked = %d waiting, %d in flight", w, f)
	}
}

// A nacked message comes back; after MaxReceives it is dead-lettered.
func TestNackRedeliveryAndDeadLetter(t *testing.T) {
	p := New(Config{MaxReceives: 3, RedeliveryDelay: time.Millisecond})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	publishN(t, p, "scan", 1)
	ch, _ := p.Subscribe(ctx, "scan")
	for i := range 3 {
		select {
		case m := <-ch:
			if m.UUID != "m000" {
				t.Fatalf("delivery %d: %s", i, m.UUID)
			}
			m.Nack()
		case <-ctx.Done():
			t.Fatalf("delivery %d never came", i)
		}
	}
	dlq, _ := p.Subscribe(ctx, "scan-dlq")
	select {
	case m := <-dlq:
		if string(m.Payload) != "0" {
			t.Errorf("dead letter payload %q", m.Payload)
		}
		m.Ack()
	case <-ctx.Done():
		t.Fatal("message never reached the dead-letter topic")
	}
	select {
	case m := <-ch:
		t.Fatalf("dead-lettered message delivered again: %s", m.UUID)
	case <-time.After(50 * time.Millisecond):
	}
}

// A subscriber that goes away with a message in hand (a crash) does not
// lose it: another subscriber receives it.
func TestAbandonedMessageReturns(t *testing.T) {
	p := New(Config{})
	defer p.Close()
	publishN(t, p, "scan", 1)
	ctx1, cancel1 := context.WithCancel(context.Background())
	ch1, _ := p.Subscribe(ctx1, "scan")
	m := <-ch1
	if m.UUID != "m000" {
		t.Fatal(m.UUID)
	}
	cancel1() // dies without ack
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	ch2, _ := p.Subscribe(ctx2, "scan")
	select {
	case m2 := <-ch2:
		if m2.UUID != "m000" {
			t.Errorf("got %s", m2.UUID)
		}
		m2.Ack()
	case <-ctx2.Done():
		t.Fatal("abandoned message lost")
	}
}

func TestClose(t *testing.T) {
	p := New(Config{})
	ch, _ := p.Subscribe(context.Background(), "t")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Error("channel open after Close")
	}
	if err := p.Publish("t", message.NewMessage("x", nil)); err != ErrClosed {
		t.Errorf("Publish after Close = %v", err)
	}
}
