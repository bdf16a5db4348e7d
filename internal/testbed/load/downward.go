package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"gopkg.in/yaml.v3"
)

// DownwardEnv reads a rendered manifest and returns, by container name, the
// environment variables the container's own spec sets: literal values (env
// value: SHUTDOWN_TIMEOUT=480s) and what the Downward API fills from the
// container's own resources (env valueFrom.resourceFieldRef):
// MEMORY_LIMIT=536870912 for a container with limits.memory 512Mi, as the
// kubelet would set it. The harness gives each process the environment its
// container would have, so that what the binaries derive from it (the Go
// memory limit, and from that the scanner's accounts in hand; how long a
// stopping scanner finishes its scans) is what they derive in the cluster.
// The shared ConfigMap (envFrom) is not read: the harness sets those
// settings for its own emulators.
//
// Deployments and CronJobs are read; a container name seen twice, a
// reference to another container or a resource that is not set is an error.
func DownwardEnv(manifest []byte) (map[string][]string, error) {
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	out := map[string][]string{}
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse manifest: %w", err)
		}
		var pod podSpec
		switch o.Kind {
		case "Deployment":
			var s deploymentSpec
			if err := o.Spec.Decode(&s); err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Metadata.Name, err)
			}
			pod = s.Template.Spec
		case "CronJob":
			var s struct {
				JobTemplate struct {
					Spec struct {
						Template struct {
							Spec podSpec `yaml:"spec"`
						} `yaml:"template"`
					} `yaml:"spec"`
				} `yaml:"jobTemplate"`
			}
			if err := o.Spec.Decode(&s); err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Metadata.Name, err)
			}
			pod = s.JobTemplate.Spec.Template.Spec
		default:
			continue
		}
		for _, c := range pod.Containers {
			if _, dup := out[c.Name]; dup {
				return nil, fmt.Errorf("%s %s: container %q named twice in the manifest", o.Kind, o.Metadata.Name, c.Name)
			}
			env, err := c.downward()
			if err != nil {
				return nil, fmt.Errorf("%s %s container %s: %w", o.Kind, o.Metadata.Name, c.Name, err)
			}
			out[c.Name] = env
		}
	}
}

// podSpec is the part of a pod template the harness reads: the grace
// period (Policy) and the containers (DownwardEnv).
type podSpec struct {
	TerminationGracePeriodSeconds *int64      `yaml:"terminationGracePeriodSeconds"`
	Containers                    []container `yaml:"containers"`
}

type container struct {
	Name string `yaml:"name"`
	Env  []struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			ResourceFieldRef *struct {
				ContainerName string `yaml:"containerName"`
				Resource      string `yaml:"resource"`
				Divisor       string `yaml:"divisor"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Limits   map[string]string `yaml:"limits"`
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
}

// downward returns the container's literal variables and resolves its
// resourceFieldRef ones as the kubelet does: the quantity divided by the
// divisor (default 1), rounded up. Other valueFrom sources (secrets,
// ConfigMap keys, fieldRef) are not the harness's to give.
func (c container) downward() ([]string, error) {
	var env []string
	for _, e := range c.Env {
		if e.ValueFrom == nil && e.Value != nil {
			env = append(env, e.Name+"="+*e.Value)
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil {
			continue
		}
		ref := e.ValueFrom.ResourceFieldRef
		if ref.ContainerName != "" && ref.ContainerName != c.Name {
			return nil, fmt.Errorf("%s: resourceFieldRef names container %q; the harness reads only a container's own", e.Name, ref.ContainerName)
		}
		kind, res, ok := strings.Cut(ref.Resource, ".")
		var set map[string]string
		switch {
		case ok && kind == "limits":
			set = c.Resources.Limits
		case ok && kind == "requests":
			set = c.Resources.Requests
		default:
			return nil, fmt.Errorf("%s: resourceFieldRef resource %q: want limits.<name> or requests.<name>", e.Name, ref.Resource)
		}
		raw, ok := set[res]
		if !ok {
			return nil, fmt.Errorf("%s: %s is not set on the container (the kubelet would give the node's allocatable; the harness does not guess it)", e.Name, ref.Resource)
		}
		q, err := parseQuantity(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", e.Name, ref.Resource, err)
		}
		div := big.NewRat(1, 1)
		if ref.Divisor != "" {
			if div, err = parseQuantity(ref.Divisor); err != nil {
				return nil, fmt.Errorf("%s: divisor: %w", e.Name, err)
			}
			if div.Sign() <= 0 {
				return nil, fmt.Errorf("%s: divisor %q: must be > 0", e.Name, ref.Divisor)
			}
		}
		v := new(big.Rat).Quo(q, div)
		n := new(big.Int).Quo(v.Num(), v.Denom())
		if new(big.Rat).SetInt(n).Cmp(v) != 0 {
			n.Add(n, big.NewInt(1)) // the kubelet rounds up
		}
		env = append(env, e.Name+"="+n.String())
	}
	return env, nil
}

// quantitySuffixes are Kubernetes' resource.Quantity suffixes.
var quantitySuffixes = map[string]*big.Rat{
	"": big.NewRat(1, 1), "m": big.NewRat(1, 1000),
	"k": big.NewRat(1e3, 1), "M": big.NewRat(1e6, 1), "G": big.NewRat(1e9, 1),
	"T": big.NewRat(1e12, 1), "P": big.NewRat(1e15, 1), "E": big.NewRat(1e18, 1),
	"Ki": big.NewRat(1<<10, 1), "Mi": big.NewRat(1<<20, 1), "Gi": big.NewRat(1<<30, 1),
	"Ti": big.NewRat(1<<40, 1), "Pi": big.NewRat(1<<50, 1), "Ei": big.NewRat(1<<60, 1),
}

// parseQuantity reads a Kubernetes quantity ("512Mi", "1", "250m", "1.5G")
// exactly. Exponent forms ("1e3") are refused: the manifests use none.
func parseQuantity(s string) (*big.Rat, error) {
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	num, suffix := s[:i], s[i:]
	mult, ok := quantitySuffixes[suffix]
	if num == "" || !ok || strings.ContainsAny(num, "eE+") {
		return nil, fmt.Errorf("quantity %q: want a number with an optional suffix (Ki, Mi, Gi, k, M, G, m...)", s)
	}
	q, ok := new(big.Rat).SetString(num)
	if !ok || q.Sign() < 0 {
		return nil, fmt.Errorf("quantity %q: want a non-negative number with an optional suffix", s)
	}
	return q.Mul(q, mult), nil
}
