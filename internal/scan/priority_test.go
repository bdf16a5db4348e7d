package scan

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// priorityRoles records the call priority each account's credentials are
// fetched under (the first AWS call of a scan).
type priorityRoles struct {
	mu  sync.Mutex
	got []uint64
}

func (p *priorityRoles) Credentials(ident.RoleARN) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		p.mu.Lock()
		p.got = append(p.got, awsconf.CallPriority(ctx))
		p.mu.Unlock()
		return aws.Credentials{AccessKeyID: "ASIAFAKE", SecretAccessKey: "s"}, nil
	})
}

// Each account's calls carry its start order, from 1 (0 is left to calls
// outside any account's scan, which go first), whatever the caller's
// context carried.
func TestScanAccountCallPriority(t *testing.T) {
	roles := &priorityRoles{}
	s := fakeScanner(t, roles, map[ident.Region]*fakeConfig{"us-east-1": healthyRegion(time.Unix(0, 0))})
	for i, ctx := range []context.Context{
		context.Background(),
		awsconf.WithCallPriority(context.Background(), 99),
		context.Background(),
	} {
		req := events.ScanRequested{RunID: "r", AccountID: ident.AccountID("11111111111" + string(rune('1'+i)))}
		if res := s.ScanAccount(ctx, req); res.Status != events.StatusOK {
			t.Fatalf("account %d: status %s, errors %v", i, res.Status, res.Errors)
		}
	}
	if want := []uint64{1, 2, 3}; !slices.Equal(roles.got, want) {
		t.Errorf("priorities %v, want %v", roles.got, want)
	}
}
