package runstart

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

func TestNew(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, paris)
	regions := []ident.Region{"us-east-1"}
	tests := []struct {
		name         string
		id           ident.RunID
		trigger      events.Trigger
		deadline     time.Duration
		wantDeadline time.Time
	}{
		{"scheduled, default deadline", "", events.TriggerScheduled, 0, now.UTC().Add(45 * time.Minute)},
		{"ad hoc, given id and deadline", "adhoc-1", events.TriggerAdhoc, 10 * time.Minute, now.UTC().Add(10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := New(tt.id, tt.trigger, now, tt.deadline, regions)
			if tt.id != "" && rs.RunID != tt.id {
				t.Errorf("run id %q, want %q", rs.RunID, tt.id)
			}
			if _, err := ident.ParseRunID(string(rs.RunID)); err != nil {
				t.Errorf("run id: %v", err)
			}
			if rs.Trigger != tt.trigger || !rs.StartedAt.Equal(now) || rs.StartedAt.Location() != time.UTC || !rs.Deadline.Equal(tt.wantDeadline) {
				t.Errorf("got %s started %s deadline %s; want %s started %s (UTC) deadline %s", rs.Trigger, rs.StartedAt, rs.Deadline, tt.trigger, now.UTC(), tt.wantDeadline)
			}
			if len(rs.Regions) != 1 || rs.Regions[0] != "us-east-1" {
				t.Errorf("regions %v", rs.Regions)
			}
		})
	}
}

type recorder struct {
	topic string
	msgs  []*message.Message
	err   error
}

func (r *recorder) Publish(topic string, msgs ...*message.Message) error {
	if r.err != nil {
		return r.err
	}
	r.topic, r.msgs = topic, append(r.msgs, msgs...)
	return nil
}

func (r *recorder) Close() error { return nil }

func TestPublish(t *testing.T) {
	ctx := context.Background()
	valid := New("r1", events.TriggerAdhoc, time.Now(), 0, []ident.Region{"us-east-1"})
	valid.Accounts = []events.Account{{AccountID: "111111111111", Name: "a", OUPath: "Root"}}
	invalid := valid
	invalid.Regions = nil
	down := errors.New("topic gone")
	tests := []struct {
		name    string
		rs      events.RunStarted
		pubErr  error
		wantErr string
	}{
		{name: "published to the results topic", rs: valid},
		{name: "invalid", rs: invalid, wantErr: "encode RunStarted"},
		{name: "publisher fails", rs: valid, pubErr: down, wantErr: "publish RunStarted: topic gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{err: tt.pubErr}
			m, err := Publish(ctx, rec, events.Codec{}, &tt.rs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.topic != events.TopicResults || len(rec.msgs) != 1 || rec.msgs[0] != m {
				t.Fatalf("published %d messages to %q, want the one returned to %q", len(rec.msgs), rec.topic, events.TopicResults)
			}
			ev, err := events.Codec{}.Unmarshal(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.(*events.RunStarted); got.RunID != "r1" || len(got.Accounts) != 1 {
				t.Errorf("published %+v", got)
			}
		})
	}
}
