package release_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
)

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestParseGraph(t *testing.T) {
	p1 := `"quay.io/openshift-release-dev/ocp-release@` + d1 + `"`
	p2 := `"quay.io/openshift-release-dev/ocp-release@` + d2 + `"`
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"ok", `{"nodes":[{"version":"4.15.1","payload":` + p1 + `},{"version":"4.15.2","payload":` + p2 + `}],"edges":[[0,1]]}`, ""},
		{"ok conditional", `{"nodes":[{"version":"4.15.1","payload":` + p1 + `}],"edges":[],"conditionalEdges":[{"edges":[{"from":"4.15.1","to":"4.15.2"}],"risks":[{"name":"X"}]}]}`, ""},
		{"edge out of range", `{"nodes":[{"version":"4.15.1","payload":` + p1 + `}],"edges":[[0,1]]}`, "outside the 1 nodes"},
		{"negative edge", `{"nodes":[{"version":"4.15.1","payload":` + p1 + `}],"edges":[[-1,0]]}`, "outside"},
		{"edge of three", `{"nodes":[{"version":"4.15.1","payload":` + p1 + `}],"edges":[[0,0,0]]}`, "3 ends"},
		{"bad version", `{"nodes":[{"version":"4.15","payload":` + p1 + `}],"edges":[]}`, "MAJOR.MINOR.PATCH"},
		{"duplicate version", `{"nodes":[{"version":"4.15.1","payload":` + p1 + `},{"version":"4.15.1","payload":` + p2 + `}],"edges":[]}`, "appears at nodes 0 and 1"},
		{"payload by tag", `{"nodes":[{"version":"4.15.1","payload":"quay.io/openshift-release-dev/ocp-release:4.15.1-x86_64"}],"edges":[]}`, "not pinned by digest"},
		{"payload tag and digest", `{"nodes":[{"version":"4.15.1","payload":"quay.io/ocp-release:4.15.1@` + d1 + `"}],"edges":[]}`, "both a tag and a digest"},
		{"payload bad digest", `{"nodes":[{"version":"4.15.1","payload":"quay.io/ocp-release@sha256:../../x"}],"edges":[]}`, "reference"},
		{"bad conditional", `{"nodes":[],"edges":[],"conditionalEdges":[{"edges":[{"from":"x","to":"4.15.2"}]}]}`, "conditional edge group 0"},
		{"trailing", `{"nodes":[],"edges":[]} {}`, "trailing data"},
		{"not json", `<html>`, "invalid update graph"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := release.ParseGraph([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(g.Raw) != tt.in {
					t.Errorf("Raw not kept verbatim")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, release.ErrInvalidGraph) {
				t.Fatalf("error = %v, want ErrInvalidGraph containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseRealisticGraph(t *testing.T) {
	g := realisticGraph(t, "stable-4.15", "amd64")
	if len(g.Nodes) != 8 || len(g.Edges) != 13 {
		t.Fatalf("nodes %d edges %d, want 8 and 13", len(g.Nodes), len(g.Edges))
	}
	h := g.Nodes[g.Head()]
	if h.Version.String() != "4.15.6" || h.Payload != releasetest.FakePayload("4.15.6", "amd64") {
		t.Fatalf("head = %s %s", h.Version, h.Payload)
	}
	if h.Digest.String() != h.Payload[strings.Index(h.Payload, "@")+1:] {
		t.Fatalf("digest %s does not match payload %s", h.Digest, h.Payload)
	}
	if h.Metadata["io.openshift.upgrades.graph.release.channels"] != "stable-4.15" {
		t.Fatalf("metadata = %v", h.Metadata)
	}
}

func fastClient(t *testing.T, product release.Product, opts ...release.GraphOption) *release.GraphClient {
	t.Helper()
	opts = append([]release.GraphOption{release.WithGetenv(noEnv), release.WithGraphRetries(3, time.Millisecond)}, opts...)
	c, err := release.NewGraphClient(product, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGraphClient(t *testing.T) {
	srv := releasetest.NewGraphServer(releasetest.RealisticGraphs(nil))
	defer srv.Close()
	ctx := context.Background()

	t.Run("fetch", func(t *testing.T) {
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(srv.URL+"/api/upgrades_info/v1/graph"))
		g, err := c.Graph(ctx, "fast-4.16", release.ArchARM64)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Nodes[g.Head()].Version.String(); got != "4.16.2" {
			t.Fatalf("arm64 fast-4.16 head = %s, want 4.16.2", got)
		}
		reqs := srv.Requests()
		if last := reqs[len(reqs)-1]; last != "arch=arm64&channel=fast-4.16" {
			t.Fatalf("query = %q", last)
		}
	})
	t.Run("retries 503 and 429", func(t *testing.T) {
		srv.FailNext(http.StatusServiceUnavailable, http.StatusTooManyRequests)
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(srv.URL))
		g, err := c.Graph(ctx, "stable-4.15", release.ArchAMD64)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Nodes) != 8 {
			t.Fatalf("nodes = %d", len(g.Nodes))
		}
	})
	t.Run("gives up after the attempts", func(t *testing.T) {
		before := len(srv.Requests())
		srv.FailNext(502, 502, 502)
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(srv.URL))
		_, err := c.Graph(ctx, "stable-4.15", release.ArchAMD64)
		if !errors.Is(err, retry.ErrGaveUp) || !strings.Contains(err.Error(), "kept failing") ||
			!strings.Contains(err.Error(), "gave up after 3 attempt(s)") || !strings.Contains(err.Error(), "502") {
			t.Fatalf("error = %v", err)
		}
		if n := len(srv.Requests()) - before; n != 3 {
			t.Fatalf("%d requests, want 3 (the attempts of WithGraphRetries)", n)
		}
	})
	t.Run("404 is not retried", func(t *testing.T) {
		before := len(srv.Requests())
		srv.FailNext(404)
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(srv.URL))
		_, err := c.Graph(ctx, "stable-4.15", release.ArchAMD64)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("error = %v", err)
		}
		if n := len(srv.Requests()) - before; n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(url))
		_, err := c.Graph(ctx, "stable-4.15", release.ArchAMD64)
		if err == nil || !strings.Contains(err.Error(), "update service at "+url+" unreachable") ||
			!strings.Contains(err.Error(), "UPDATE_URL_OVERRIDE") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("size cap", func(t *testing.T) {
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(srv.URL), release.WithMaxGraphBytes(100))
		_, err := c.Graph(ctx, "stable-4.15", release.ArchAMD64)
		if !errors.Is(err, release.ErrTooLarge) {
			t.Fatalf("error = %v, want ErrTooLarge", err)
		}
	})
	t.Run("empty channel parses to an empty graph", func(t *testing.T) {
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(srv.URL))
		g, err := c.Graph(ctx, "stable-9.99", release.ArchAMD64)
		if err != nil || len(g.Nodes) != 0 {
			t.Fatalf("graph %v, error %v", g, err)
		}
	})
	t.Run("invalid answer", func(t *testing.T) {
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"nodes":[{"version":"4.1.0","payload":"x"}],"edges":[]}`))
		}))
		defer bad.Close()
		c := fastClient(t, release.ProductOCP, release.WithUpdateURL(bad.URL))
		_, err := c.Graph(ctx, "stable-4.15", release.ArchAMD64)
		if !errors.Is(err, release.ErrInvalidGraph) {
			t.Fatalf("error = %v, want ErrInvalidGraph", err)
		}
	})
}

func TestGraphClientURL(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == release.EnvUpdateURL {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		product release.Product
		opts    []release.GraphOption
		want    string
		wantErr bool
	}{
		{"ocp default", release.ProductOCP, []release.GraphOption{release.WithGetenv(noEnv)}, release.OCPUpdateURL, false},
		{"okd default", release.ProductOKD, []release.GraphOption{release.WithGetenv(noEnv)}, release.OKDUpdateURL, false},
		{"env", release.ProductOCP, []release.GraphOption{release.WithGetenv(env("https://osus.internal/api/upgrades_info/graph"))}, "https://osus.internal/api/upgrades_info/graph", false},
		{"flag wins over env", release.ProductOKD, []release.GraphOption{release.WithGetenv(env("https://env.internal/graph")), release.WithUpdateURL("https://flag.internal/graph")}, "https://flag.internal/graph", false},
		{"not http", release.ProductOCP, []release.GraphOption{release.WithUpdateURL("file:///etc/passwd")}, "", true},
		{"unknown product", "rhel", []release.GraphOption{release.WithGetenv(noEnv)}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := release.NewGraphClient(tt.product, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && c.URL() != tt.want {
				t.Fatalf("URL = %s, want %s", c.URL(), tt.want)
			}
		})
	}
}
