package helm

import (
	"errors"
	"testing"

	"github.com/enclave-mirror/enclave/imageset"
)

func TestImageDestination(t *testing.T) {
	for in, want := range map[string]string{
		"nginx:1.25": "docker.io/library/nginx:1.25",
		"quay.io/jetstack/cert-manager-controller:v1.15.0":                                           "quay.io/jetstack/cert-manager-controller:v1.15.0",
		"localhost:5000/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "localhost__5000/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"REGISTRY.Example.com:443/x:1":                                                               "registry.example.com__443/x:1",
	} {
		ref, err := imageset.ParseReference(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ImageDestination(ref)
		if err != nil || got.String() != want || got.Registry != "" {
			t.Errorf("%s -> %s %v, want %s", in, got, err, want)
		}
	}
	// Same path on two registries: two destinations.
	a, _ := imageset.ParseReference("docker.io/x/y:1")
	b, _ := imageset.ParseReference("quay.io/x/y:1")
	da, _ := ImageDestination(a)
	db, _ := ImageDestination(b)
	if err := CheckCollisions([]Placement{{a.String(), da}, {b.String(), db}}); err != nil {
		t.Errorf("distinct registries collide: %v", err)
	}
	if err := CheckCollisions([]Placement{{a.String(), da}, {b.String(), da}, {a.String(), da}}); !errors.Is(err, ErrCollision) {
		t.Errorf("collision not reported: %v", err)
	}
}

func TestChartDestination(t *testing.T) {
	for _, tt := range []struct {
		c    Chart
		want string
	}{
		{Chart{Name: "podinfo", Version: "6.14.1", Kind: SourceOCI, Repository: "oci://ghcr.io/stefanprodan/charts"}, "ghcr.io/stefanprodan/charts/podinfo:6.14.1"},
		{Chart{Name: "podinfo", Version: "6.14.1", Kind: SourceHTTP, Repository: "https://stefanprodan.github.io/podinfo"}, "stefanprodan.github.io/podinfo/podinfo:6.14.1"},
		{Chart{Name: "demo", Version: "1.2.3+build.5", Kind: SourceHTTP, Repository: "http://127.0.0.1:8080/Helm Charts/"}, "127.0.0.1__8080/helm-charts/demo:1.2.3_build.5"},
		{Chart{Name: "demo", Version: "1.0.0", Kind: SourceLocal, Source: "/x/demo"}, "local/demo:1.0.0"},
	} {
		got, err := ChartDestination(&tt.c)
		if err != nil || got.String() != tt.want {
			t.Errorf("%s %s: %s %v, want %s", tt.c.Repository, tt.c.Name, got, err, tt.want)
		}
	}
	if _, err := ChartDestination(&Chart{Name: "x", Version: "1", Kind: SourceOCI, Repository: "oci://[::1]:5000/c"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("IPv6 host: %v", err)
	}
}
