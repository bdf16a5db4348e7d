package awssim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"
)

// sameShardKeys returns n account-regions that hash to the rule cache's
// shard 0, in a fixed order.
func sameShardKeys(n int) []accountRegion {
	var keys []accountRegion
	for i := 0; len(keys) < n; i++ {
		k := accountRegion{fmt.Sprintf("%012d", i), "us-east-1"}
		if fnv32a(k.account, k.region)%cacheShards == 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestRuleCacheEvictsOldest: a full shard forgets the account-region it
// derived first, never one a scan is still asking for.
func TestRuleCacheEvictsOldest(t *testing.T) {
	keys := sameShardKeys(cachePerShard + 2)
	for _, tc := range []struct {
		name string
		// asked, in order; then which keys must still be cached
		asked   []int
		cached  []int
		derived int // derivations in all
	}{
		{"below capacity keeps all", seq(0, cachePerShard), seq(0, cachePerShard), cachePerShard},
		{"one over forgets the first", seq(0, cachePerShard+1), seq(1, cachePerShard+1), cachePerShard + 1},
		{"two over forget the first two", seq(0, cachePerShard+2), seq(2, cachePerShard+2), cachePerShard + 2},
		{"a hit does not derive again", append(seq(0, cachePerShard), 0, 5, cachePerShard-1), seq(0, cachePerShard), cachePerShard},
		{"the one forgotten is derived again", append(seq(0, cachePerShard+1), 0), append(seq(2, cachePerShard+1), 0), cachePerShard + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c ruleCache
			derived := 0
			for _, i := range tc.asked {
				want := []Rule{{Name: keys[i].account}}
				got := c.get(keys[i], func() []Rule { derived++; return want })
				if len(got) != 1 || got[0].Name != keys[i].account {
					t.Fatalf("get(%v) = %v", keys[i], got)
				}
			}
			if derived != tc.derived {
				t.Errorf("derived %d times, want %d", derived, tc.derived)
			}
			for _, i := range tc.cached {
				c.get(keys[i], func() []Rule { t.Errorf("key %d was evicted", i); return nil })
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestThrottlerBucketPerAccountRegion: each (account, region) has its own
// bucket. The rate is so low (one token per 1,000 s) that a bucket, once
// emptied, stays empty for the test's life.
func TestThrottlerBucketPerAccountRegion(t *testing.T) {
	var th throttler
	th.init(0.001)
	for _, tc := range []struct {
		account, region string
		want            bool
	}{
		{"111111111111", "us-east-1", true},
		{"111111111111", "us-east-1", false},
		{"111111111111", "ap-east-1", true},
		{"222222222222", "us-east-1", true},
		{"111111111111", "ap-east-1", false},
		// Not one bucket under a joined key ("1/2/3" both).
		{"1/2", "3", true},
		{"1", "2/3", true},
		{"1/2", "3", false},
	} {
		if got := th.allow(tc.account, tc.region); got != tc.want {
			t.Errorf("allow(%s, %s) = %v, want %v", tc.account, tc.region, got, tc.want)
		}
	}
	var off throttler
	off.init(0)
	for range 3 {
		if !off.allow("111111111111", "us-east-1") {
			t.Fatal("rate 0 refused a call")
		}
	}
}

// TestParseAmzDateMatchesTimeParse: the fast path gives what time.Parse
// gives, value and error alike.
func TestParseAmzDateMatchesTimeParse(t *testing.T) {
	for _, v := range []string{
		"20261207T174512Z", "20260101T000000Z", "20261231T235959Z", "00010101T000000Z",
		"20261128T120000Z", "20260229T120000Z", "20240229T120000Z", "20261131T120000Z", "20261130T120000Z",
		"20261207T244512Z", "20261207T176012Z", "20261207T174560Z", "20261307T174512Z", "20260007T174512Z", "20261200T174512Z",
		"20261207 174512Z", "20261207T174512", "20261207T174512z", "2026120xT174512Z", "+0261207T174512Z", "-0261207T174512Z",
		"2026-12-07T17:45:12Z", "", "20261207T1745120Z", "２0261207T174512Z",
	} {
		want, wantErr := time.Parse(amzDateLayout, v)
		got, err := parseAmzDate(v)
		if !got.Equal(want) || got.Location() != want.Location() || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("parseAmzDate(%q) = %v, %v; time.Parse: %v, %v", v, got, err, want, wantErr)
		}
	}
}

// TestJSONErrorBodyMatchesMarshal: the error body is byte for byte what
// json.Marshal wrote for the map of its members.
func TestJSONErrorBodyMatchesMarshal(t *testing.T) {
	msgs := []string{"Rate exceeded", "", `quote " backslash \ <tag> & amp`, "line\nbreak\ttab\x01", "naïve – ✓", "bad utf-8 \xff\xfe", "\u2028\u2029"}
	for _, svc := range []service{svcOrgs, svcConfig} {
		for _, reason := range []string{"", "INPUT_REQUIRED", "<r&>"} {
			for _, msg := range msgs {
				e := &apiError{status: 400, code: "ThrottlingException", msg: msg, reason: reason}
				m := map[string]string{"__type": e.code}
				if svc == svcOrgs {
					m["Message"] = msg
				} else {
					m["message"] = msg
				}
				if reason != "" {
					m["Reason"] = reason
				}
				want, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if got := appendJSONErrorBody(nil, svc, e); string(got) != string(want) {
					t.Errorf("svc %d reason %q msg %q:\n got %s\nwant %s", svc, reason, msg, got, want)
				}
			}
		}
	}
}

// TestRecorderStatusMatchesEncodingJSON: DescribeConfigurationRecorderStatus
// answers, for recording, stopped and missing recorders, the bytes
// encoding/json wrote for the map of its one member.
func TestRecorderStatusMatchesEncodingJSON(t *testing.T) {
	at := epochSeconds(evaluatedAt)
	stop := epochSeconds(evaluatedAt.Add(-90 * time.Hour))
	milli := epochSeconds(evaluatedAt.Add(1500 * time.Millisecond))
	rec := recorderStatusJSON{Arn: "arn:aws:config:us-east-1:111111111111:configuration-recorder/default/abc", Name: "default",
		LastStartTime: at, Recording: true, LastStatus: "Success", LastStatusChangeTime: at}
	stopped := rec
	stopped.Recording, stopped.LastStopTime, stopped.LastStatusChangeTime = false, &stop, milli
	odd := rec
	odd.Arn, odd.Name, odd.LastStatus = `<&> "q" \`, "naïve\u2028", ""
	for _, tc := range []struct {
		name string
		in   []recorderStatusJSON
	}{
		{"none", []recorderStatusJSON{}},
		{"recording", []recorderStatusJSON{rec}},
		{"stopped", []recorderStatusJSON{stopped}},
		{"two, escaped strings", []recorderStatusJSON{stopped, odd}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(map[string]any{"ConfigurationRecordersStatus": tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if got := (recorderStatusOutput{statuses: tc.in}).appendJSON(nil); string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestNewRequestID: AWS's shape, 8-4-4-4-12 lower-case hex digits, and a
// new one each call.
func TestNewRequestID(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if !shape.MatchString(id) {
			t.Fatalf("request id %q: not 8-4-4-4-12 hex", id)
		}
		if seen[id] {
			t.Fatalf("request id %q twice", id)
		}
		seen[id] = true
	}
}
