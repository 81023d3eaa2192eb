package helm

import (
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/ocistore/retry"
)

var fastRetry = retry.Options{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func fileDigest(t *testing.T, file string) digest.Digest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "repo", file))
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(b)
}

func TestRepositoryPull(t *testing.T) {
	s := newRepoServer(t, false)
	ctx := context.Background()
	r, err := NewRepository("fixtures", s.URL+"/charts", HTTPOptions{Retry: fastRetry}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		chart, version, wantVersion, file string
	}{
		{"podinfo", "", "5.0.0", "podinfo-5.0.0.tgz"},                                                // the pre-release 6.0.0-rc.1 is skipped
		{"podinfo", ">=5", "5.0.0", "podinfo-5.0.0.tgz"},                                             // a range excludes pre-releases too
		{"ingress-nginx", "4.12.1", "4.12.1", "ingress-nginx-4.12.1.tgz"},                            // absolute URL
		{"my-chart-with-subchart-alias", "0.1.x", "0.1.0", "my-chart-with-subchart-alias-0.1.0.tgz"}, // relative URL with ./ and ..
	}
	for _, tt := range tests {
		t.Run(tt.chart+"@"+tt.version, func(t *testing.T) {
			c, err := r.Pull(ctx, tt.chart, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.chart || c.Version != tt.wantVersion || c.Digest() != fileDigest(t, tt.file) || c.Kind != SourceHTTP || c.Provenance != nil {
				t.Errorf("got %s %s %s %s prov=%v", c.Name, c.Version, c.Digest(), c.Kind, c.Provenance != nil)
			}
		})
	}
	c, err := r.Pull(ctx, "podinfo", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2020, 9, 5, 8, 0, 0, 123456789, time.UTC); !c.Created.Equal(want) {
		t.Errorf("created = %v, want %v", c.Created, want)
	}

	// An explicit pre-release is honoured (and here its archive is missing).
	if _, err := r.Pull(ctx, "podinfo", "6.0.0-rc.1"); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "podinfo-6.0.0-rc.1.tgz") {
		t.Errorf("pre-release: %v", err)
	}
	for _, tt := range []struct {
		chart, version string
		want           error
	}{
		{"podinfo", "^7", ErrNotFound},
		{"nope", "", ErrNotFound},
		{"podinfo", "not a version!", ErrInvalid},
		{"broken", "", ErrDigest},
	} {
		_, err := r.Pull(ctx, tt.chart, tt.version)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.chart) || !strings.Contains(err.Error(), `"fixtures"`) {
			t.Errorf("%s %q: err = %v, want %v naming the chart and repository", tt.chart, tt.version, err, tt.want)
		}
	}
}

// TestRepositoryRealIndex resolves versions in oc-mirror's real
// service-binding-operator index, 10 versions, relative URLs.
func TestRepositoryRealIndex(t *testing.T) {
	s := newRepoServer(t, false)
	r, err := NewRepository("sbo", s.URL+"/sbo/", HTTPOptions{}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := r.Index(context.Background(), "service-binding-operator")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(idx.Entries["service-binding-operator"]); n != 10 || idx.APIVersion != "v1" {
		t.Fatalf("%d entries, apiVersion %q", n, idx.APIVersion)
	}
	for version, want := range map[string]string{"": "1.4.1", "~1.3": "1.3.3", "1.3.3": "1.3.3", "<1.4": "1.3.3"} {
		cv, err := idx.Get("service-binding-operator", version)
		if err != nil || cv.Version != want {
			t.Errorf("Get(%q) = %v, %v; want %s", version, cv, err, want)
			continue
		}
		c, err := r.Fetch(context.Background(), cv)
		if err != nil {
			t.Fatal(err)
		}
		if c.Digest().Encoded() != cv.Digest || c.Digest() != fileDigest(t, "service-binding-operator-"+want+".tgz") {
			t.Errorf("%s: digest %s, index %s", want, c.Digest(), cv.Digest)
		}
	}
}

func TestRepositoryAuthAndRetry(t *testing.T) {
	other := newRepoServer(t, false) // serves the absolute ingress-nginx URL
	s := newRepoServer(t, false)
	s.user, s.pass = "alice", "s3cret-pass"
	s.other = other.URL
	s.fail["/charts/index.yaml"] = 1
	ctx := context.Background()

	r, err := NewRepository("private", s.URL+"/charts?token=hidden-token", HTTPOptions{Retry: fastRetry}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Pull(ctx, "podinfo", "")
	if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "username and password") || strings.Contains(err.Error(), "hidden-token") {
		t.Fatalf("without credentials: %v", err)
	}
	if n := s.count("/charts/index.yaml"); n != 2 {
		t.Errorf("index fetched %d times, want 2 (one 503 retried by the retry transport)", n)
	}

	u := strings.Replace(s.URL, "http://", "http://alice:s3cret-pass@", 1) + "/charts"
	r, err = NewRepository("private", u, HTTPOptions{Retry: fastRetry}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pull(ctx, "podinfo", ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.URL(), "s3cret") {
		t.Errorf("URL() = %s", r.URL())
	}
	c, err := r.Pull(ctx, "ingress-nginx", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest() != fileDigest(t, "ingress-nginx-4.12.1.tgz") {
		t.Errorf("digest %s", c.Digest())
	}
	if a := other.lastAuth("/charts/ingress-nginx-4.12.1.tgz"); a != "" {
		t.Errorf("credentials sent to another host: %q", a)
	}
	r, _ = NewRepository("private", u, HTTPOptions{PassCredentialsAll: true, Retry: fastRetry}, Limits{})
	if _, err := r.Pull(ctx, "ingress-nginx", ""); err != nil {
		t.Fatal(err)
	}
	if a := other.lastAuth("/charts/ingress-nginx-4.12.1.tgz"); !strings.HasPrefix(a, "Basic ") {
		t.Errorf("PassCredentialsAll: Authorization %q", a)
	}

	// Errors never show the password.
	s.fail["/charts/index.yaml"] = 10
	_, err = r.Pull(ctx, "podinfo", "")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), s.URL+"/charts/index.yaml") {
		t.Errorf("error with credentials in the URL: %v", err)
	}
}

func TestRepositoryTLS(t *testing.T) {
	s := newRepoServer(t, true)
	ctx := context.Background()
	r, _ := NewRepository("tls", s.URL+"/charts", HTTPOptions{Retry: retry.Options{MaxAttempts: 1}}, Limits{})
	if _, err := r.Index(ctx); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []HTTPOptions{{CAFile: ca}, {InsecureSkipTLSVerify: true}} {
		r, err := NewRepository("tls", s.URL+"/charts", opts, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Pull(ctx, "podinfo", "5.0.0"); err != nil {
			t.Errorf("%+v: %v", opts, err)
		}
	}
	if _, err := NewRepository("tls", s.URL, HTTPOptions{CAFile: filepath.Join("testdata", "repo", "index.yaml")}, Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CA file without PEM: %v", err)
	}
}

func TestRepositoryLimits(t *testing.T) {
	s := newRepoServer(t, false)
	ctx := context.Background()
	r, _ := NewRepository("small", s.URL+"/sbo", HTTPOptions{}, Limits{MaxIndexBytes: 1000})
	if _, err := r.Index(ctx); !errors.Is(err, ErrTooLarge) {
		t.Errorf("index over the byte limit: %v", err)
	}
	r, _ = NewRepository("small", s.URL+"/sbo", HTTPOptions{}, Limits{MaxIndexEntries: 9})
	if _, err := r.Index(ctx); !errors.Is(err, ErrTooLarge) {
		t.Errorf("index over the entry limit: %v", err)
	}
	r, _ = NewRepository("small", s.URL+"/sbo", HTTPOptions{}, Limits{MaxChartBytes: 10_000})
	if _, err := r.Pull(ctx, "service-binding-operator", ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("chart over the limit: %v", err)
	}
	for _, bad := range []string{"ftp://x/charts", "oci://x/y", "http://", "://"} {
		if _, err := NewRepository("bad", bad, HTTPOptions{}, Limits{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseIndexErrors(t *testing.T) {
	for _, tt := range []struct{ name, doc string }{
		{"not yaml", "entries: [\n"},
		{"a list", "- a\n"},
		{"no apiVersion", "entries: {}\n"},
		{"entries not a mapping", "apiVersion: v1\nentries: [1]\n"},
		{"versions not a list", "apiVersion: v1\nentries:\n  a: 1\n"},
		{"bad created", "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: yesterday\n"},
		{"html", "<html><body>not found</body></html>\n"},
	} {
		if _, err := ParseIndex(strings.NewReader(tt.doc), "test index", Limits{}); !errors.Is(err, ErrIndex) || !strings.Contains(err.Error(), "test index") {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	idx, err := ParseIndex(strings.NewReader("\ufeffapiVersion: v1\nentries:\n  a:\n  - version: 1.0.0\n    urls: [a.tgz]\n  b:\n  - version: x\n"), "t", Limits{}, "a")
	if err != nil || len(idx.Entries) != 1 || idx.Entries["a"][0].Name != "a" || strings.Join(idx.Names, ",") != "a,b" {
		t.Errorf("selective parse: %+v %v", idx, err)
	}
}
