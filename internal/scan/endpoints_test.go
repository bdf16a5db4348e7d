package scan

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/cybsecops/configreport/internal/ident"
)

// TestConfigEndpointKeyCoversParameters fails when an SDK upgrade adds an
// endpoint parameter: the cache key must then say it too, or two different
// parameter sets would share one cached endpoint.
func TestConfigEndpointKeyCoversParameters(t *testing.T) {
	var got []string
	for f := range reflect.TypeFor[configservice.EndpointParameters]().Fields() {
		got = append(got, f.Name)
	}
	slices.Sort(got)
	want := []string{"Endpoint", "Region", "UseDualStack", "UseFIPS"}
	if !slices.Equal(got, want) {
		t.Errorf("configservice.EndpointParameters has fields %v; configEndpointKey knows %v", got, want)
	}
}

type countingResolver struct {
	calls int
	err   error
}

func (c *countingResolver) ResolveEndpoint(ctx context.Context, p configservice.EndpointParameters) (smithyendpoints.Endpoint, error) {
	c.calls++
	if c.err != nil {
		return smithyendpoints.Endpoint{}, c.err
	}
	return configservice.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
}

func TestConfigEndpoints(t *testing.T) {
	ctx := context.Background()
	next := &countingResolver{}
	c := newConfigEndpoints()
	c.next = next
	params := func(region string, fips bool, endpoint *string) configservice.EndpointParameters {
		return configservice.EndpointParameters{Region: aws.String(region), UseFIPS: aws.Bool(fips), UseDualStack: aws.Bool(false), Endpoint: endpoint}
	}
	cases := []struct {
		p    configservice.EndpointParameters
		want string
	}{
		{params("us-east-1", false, nil), "https://config.us-east-1.amazonaws.com"},
		{params("ap-east-1", false, nil), "https://config.ap-east-1.amazonaws.com"},
		{params("us-east-1", true, nil), "https://config-fips.us-east-1.amazonaws.com"},
		{params("us-east-1", false, aws.String("http://127.0.0.1:1")), "http://127.0.0.1:1"},
	}
	for round := range 2 {
		for _, tc := range cases {
			e, err := c.ResolveEndpoint(ctx, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.URI.String(); got != tc.want {
				t.Errorf("round %d: %s fips=%v endpoint=%v: %s, want %s", round, *tc.p.Region, *tc.p.UseFIPS, aws.ToString(tc.p.Endpoint), got, tc.want)
			}
		}
	}
	if next.calls != len(cases) {
		t.Errorf("the rule set ran %d times for %d distinct parameter sets asked twice", next.calls, len(cases))
	}

	boom := errors.New("boom")
	failing := newConfigEndpoints()
	failing.next = &countingResolver{err: boom}
	for range 2 {
		if _, err := failing.ResolveEndpoint(ctx, params("us-east-1", false, nil)); !errors.Is(err, boom) {
			t.Errorf("error %v, want boom every time (errors are not cached)", err)
		}
	}
}

// TestScannerClientsShareEndpointCache: the clients New builds resolve
// through the Scanner's cache (the SDK gives every client its default
// resolver before the option functions run: the cache must replace it).
func TestScannerClientsShareEndpointCache(t *testing.T) {
	s, err := New(aws.Config{Region: "us-east-1"}, fakeRoles{}, Config{Regions: []ident.Region{"us-east-1"}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var first *configEndpoints
	for _, region := range []ident.Region{"us-east-1", "ap-east-1"} {
		c, ok := s.newConfig(aws.AnonymousCredentials{}, region).(*configservice.Client)
		if !ok {
			t.Fatalf("newConfig built a %T", c)
		}
		got, ok := c.Options().EndpointResolverV2.(*configEndpoints)
		if !ok {
			t.Fatalf("client resolves endpoints with %T, not the Scanner's cache", c.Options().EndpointResolverV2)
		}
		if first == nil {
			first = got
		} else if got != first {
			t.Error("two clients of one Scanner have different caches")
		}
	}
}
