package retry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/ocistore/retry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// fast are options for tests: millisecond waits.
func fast() retry.Options {
	return retry.Options{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Budget: 10 * time.Second}
}

// retryLog collects OnRetry calls.
type retryLog struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	req     *http.Request
	attempt int
	wait    time.Duration
	reason  string
}

func (l *retryLog) hook(req *http.Request, attempt int, wait time.Duration, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call{req, attempt, wait, reason})
}

func (l *retryLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

type env struct {
	p   *faultproxy.Proxy
	reg *regserver.Registry
	log *retryLog
}

func newEnv(t *testing.T, opts regserver.Options) *env {
	t.Helper()
	p := faultproxy.New()
	opts.Wrap = p.Wrap
	return &env{p: p, reg: regserver.New(t, opts), log: &retryLog{}}
}

func (e *env) add(t *testing.T, r faultproxy.Rule) {
	t.Helper()
	if err := e.p.Add(r); err != nil {
		t.Fatal(err)
	}
}

// transport is the retry transport over a fresh clone of the default one.
func (e *env) transport(o retry.Options) *retry.Transport {
	o.OnRetry = e.log.hook
	return retry.NewTransport(http.DefaultTransport.(*http.Transport).Clone(), o)
}

// repo is the combination the brief asks for: an oras remote.Repository
// whose auth.Client sends through the retry transport.
func (e *env) repo(t *testing.T, name string, o retry.Options, cred auth.Credential) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(e.reg.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{
		Client:     &http.Client{Transport: e.transport(o)},
		Cache:      auth.NewCache(),
		Credential: auth.StaticCredential(e.reg.Host, cred),
	}
	return repo
}

func pushManifest(ctx context.Context, t *testing.T, repo *remote.Repository, layer ocispec.Descriptor) (ocispec.Descriptor, error) {
	t.Helper()
	cfg := []byte("{}")
	cfgDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg)
	if err := repo.Push(ctx, cfgDesc, bytes.NewReader(cfg)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push config: %w", err)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		ocispec.MediaTypeImageManifest, cfgDesc.MediaType, cfgDesc.Digest, cfgDesc.Size, layer.MediaType, layer.Digest, layer.Size)
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(m))
	return desc, repo.PushReference(ctx, desc, bytes.NewReader([]byte(m)), "v1")
}

func TestOrasPush503ThreeTimes(t *testing.T) {
	e := newEnv(t, regserver.Options{})
	ctx := context.Background()
	repo := e.repo(t, "retry/ok", fast(), auth.EmptyCredential)
	blob := bytes.Repeat([]byte("layer"), 10000)
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, blob)

	e.add(t, faultproxy.Rule{Method: "POST", Path: `/blobs/uploads/$`, Times: 3, Fault: faultproxy.Status(503)})
	e.add(t, faultproxy.Rule{Method: "PUT", Path: `/blobs/uploads/.`, Times: 3, Fault: faultproxy.Status(503)})
	e.add(t, faultproxy.Rule{Method: "PUT", Path: `/manifests/`, Times: 3, Fault: faultproxy.Status(503)})

	if err := repo.Push(ctx, desc, bytes.NewReader(blob)); err != nil {
		t.Fatalf("blob push: %v", err)
	}
	if got := e.p.Count("POST", `/blobs/uploads/$`); got != 4 {
		t.Errorf("%d upload POSTs, want 4 (3 x 503 + 1)", got)
	}
	if got := e.p.Count("PUT", `/blobs/uploads/.`); got != 4 {
		t.Errorf("%d blob PUTs, want 4", got)
	}
	e.p.ClearRules()
	e.add(t, faultproxy.Rule{Method: "PUT", Path: `/manifests/`, Times: 3, Fault: faultproxy.Status(503)})
	mdesc, err := pushManifest(ctx, t, repo, desc)
	if err != nil {
		t.Fatalf("manifest push: %v", err)
	}
	if got := e.p.Count("PUT", `/manifests/`); got != 4 {
		t.Errorf("%d manifest PUTs, want 4", got)
	}
	if got := e.log.len(); got != 9 {
		t.Errorf("OnRetry called %d times, want 9", got)
	}
	// The registry serves exactly what was pushed.
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := content.ReadAll(rc, desc)
	rc.Close()
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("fetch blob: %v", err)
	}
	rd, err := repo.Resolve(ctx, "v1")
	if err != nil || rd.Digest != mdesc.Digest {
		t.Fatalf("resolve v1: %v %v, want %s", rd.Digest, err, mdesc.Digest)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		value    func() string
		min, max time.Duration
	}{
		{"seconds", func() string { return "1" }, 950 * time.Millisecond, 2 * time.Second},
		// HTTP dates have a one-second resolution: now+2s is 1-2 s away.
		{"http date", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 950 * time.Millisecond, 2100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, regserver.Options{})
			repo := e.repo(t, "retry/after", fast(), auth.EmptyCredential)
			// Resolve sends HEAD.
			e.add(t, faultproxy.Rule{Method: "HEAD", Path: `/manifests/`, Times: 1, Fault: faultproxy.RetryAfter(429, tt.value())})
			t0 := time.Now()
			_, err := repo.Resolve(context.Background(), "missing")
			elapsed := time.Since(t0)
			if err == nil || !strings.Contains(err.Error(), "not found") {
				t.Fatalf("resolve: %v, want the registry's not found after the retry", err)
			}
			if elapsed < tt.min || elapsed > tt.max {
				t.Fatalf("took %v, want %v..%v", elapsed, tt.min, tt.max)
			}
			if n := e.p.Count("HEAD", `/manifests/`); n != 2 {
				t.Fatalf("%d HEADs, want 2 (429, then the real answer)", n)
			}
			if e.log.len() != 1 || e.log.calls[0].wait < tt.min-50*time.Millisecond || !strings.Contains(e.log.calls[0].reason, "429") {
				t.Fatalf("OnRetry calls %+v", e.log.calls)
			}
		})
	}
}

func TestRetryAfterBeyondBudget(t *testing.T) {
	e := newEnv(t, regserver.Options{})
	o := fast()
	o.Budget = 2 * time.Second
	repo := e.repo(t, "retry/budget", o, auth.EmptyCredential)
	e.add(t, faultproxy.Rule{Method: "HEAD", Path: `/manifests/`, Fault: faultproxy.RetryAfter(503, "3600")})
	t0 := time.Now()
	_, err := repo.Resolve(context.Background(), "v1")
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("waited %v before failing", d)
	}
	var ge *retry.GiveUpError
	if !errors.Is(err, retry.ErrGaveUp) || !errors.As(err, &ge) {
		t.Fatalf("err = %v, want a GiveUpError", err)
	}
	if ge.RetryAfter.Before(time.Now().Add(59*time.Minute)) || !strings.Contains(err.Error(), "registry asked to retry at") {
		t.Fatalf("err = %v (RetryAfter %v)", err, ge.RetryAfter)
	}
	if n := e.p.Count("HEAD", `/manifests/`); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestPersistent500GivesUp(t *testing.T) {
	e := newEnv(t, regserver.Options{})
	o := fast()
	o.MaxAttempts = 4
	repo := e.repo(t, "retry/500", o, auth.EmptyCredential)
	e.add(t, faultproxy.Rule{Method: "PUT", Path: `/manifests/`, Fault: faultproxy.Status(500)})
	_, err := pushManifest(context.Background(), t, repo, content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, []byte("x")))
	var ge *retry.GiveUpError
	if !errors.As(err, &ge) || !errors.Is(err, retry.ErrGaveUp) {
		t.Fatalf("err = %v, want a GiveUpError", err)
	}
	if n := e.p.Count("PUT", `/manifests/`); n != 4 || len(ge.Attempts) != 4 {
		t.Fatalf("%d requests, %d attempts listed, want 4", n, len(ge.Attempts))
	}
	msg := ge.Error()
	for _, want := range []string{"PUT http://" + e.reg.Host + "/v2/retry/500/manifests/v1", "gave up after 4 attempt(s)", "#1 500 Internal Server Error", "#4 500 Internal Server Error"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// Waits are jittered below base<<n, capped.
	for i, c := range e.log.calls {
		if bound := min(o.BaseDelay<<i, o.MaxDelay); c.wait < 0 || c.wait > bound || c.attempt != i+1 {
			t.Errorf("retry %d: attempt %d wait %v, bound %v", i, c.attempt, c.wait, bound)
		}
	}
}

func TestNoRetry(t *testing.T) {
	tests := []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"401", faultproxy.Status(401)},
		{"403 DENIED", faultproxy.OCIError(403, "DENIED", "requested access to the resource is denied")},
		{"400", faultproxy.Status(400)},
		{"404", faultproxy.Status(404)},
		{"405", faultproxy.Status(405)},
		{"413", faultproxy.Status(413)},
		{"503 DENIED", faultproxy.OCIError(503, "DENIED", "quota")},
		{"500 MANIFEST_BLOB_UNKNOWN", faultproxy.OCIError(500, "MANIFEST_BLOB_UNKNOWN", "blob unknown")},
		{"500 NAME_UNKNOWN", faultproxy.OCIError(500, "NAME_UNKNOWN", "x")},
	}
	e := newEnv(t, regserver.Options{})
	tr := e.transport(fast())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.p.ClearRules()
			e.p.ResetRecords()
			e.add(t, faultproxy.Rule{Fault: tt.fault})
			req, _ := http.NewRequest("PUT", e.reg.URL+"/v2/x/manifests/v1", bytes.NewReader([]byte("{}")))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.fault.Status || !bytes.Equal(body, tt.fault.Body) {
				t.Fatalf("got %d %q, want the registry's answer untouched", resp.StatusCode, body)
			}
			if n := e.p.Count("", ""); n != 1 || e.log.len() != 0 {
				t.Fatalf("%d requests, %d retries; want 1, 0", n, e.log.len())
			}
		})
	}
}

func TestOrasWrongPasswordAndDenied(t *testing.T) {
	e := newEnv(t, regserver.Options{Username: "alice", Password: "right"})
	ctx := context.Background()
	repo := e.repo(t, "retry/auth", fast(), auth.Credential{Username: "alice", Password: "wrong"})
	_, err := repo.Resolve(ctx, "v1")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want 401", err)
	}
	// auth.Client: one anonymous request, one with the (wrong) credentials.
	if n := e.p.Count("", ""); n != 2 || e.log.len() != 0 {
		t.Fatalf("%d requests, %d retries; want 2, 0", n, e.log.len())
	}

	repo = e.repo(t, "retry/auth", fast(), auth.Credential{Username: "alice", Password: "right"})
	e.p.ResetRecords()
	e.add(t, faultproxy.Rule{Method: "PUT", Path: `/manifests/`, Fault: faultproxy.OCIError(403, "DENIED", "read-only mirror")})
	_, err = pushManifest(ctx, t, repo, content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, []byte("x")))
	if err == nil || !strings.Contains(err.Error(), "403: denied: read-only mirror") {
		t.Fatalf("err = %v, want the registry's DENIED", err)
	}
	if n := e.p.Count("PUT", `/manifests/`); n != 1 || e.log.len() != 0 {
		t.Fatalf("%d manifest PUTs, %d retries; want 1, 0", n, e.log.len())
	}
}

func TestUnreplayableBodyAndPatchNotRetried(t *testing.T) {
	e := newEnv(t, regserver.Options{})
	tr := e.transport(fast())
	e.add(t, faultproxy.Rule{Fault: faultproxy.Status(503)})
	for _, method := range []string{"PUT", "PATCH"} {
		e.p.ResetRecords()
		var body io.Reader = io.NopCloser(strings.NewReader("data")) // no GetBody
		if method == "PATCH" {
			body = strings.NewReader("data") // replayable, but PATCH
		}
		req, _ := http.NewRequest(method, e.reg.URL+"/v2/x/blobs/uploads/u", body)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || e.p.Count("", "") != 1 {
			t.Fatalf("%s: %d after %d requests, want 503 after 1", method, resp.StatusCode, e.p.Count("", ""))
		}
	}
	if e.log.len() != 0 {
		t.Fatalf("%d retries", e.log.len())
	}
}

func TestCancelDuringWait(t *testing.T) {
	e := newEnv(t, regserver.Options{})
	tr := e.transport(retry.Options{}) // defaults: 2 min budget
	e.add(t, faultproxy.Rule{Fault: faultproxy.RetryAfter(429, "30")})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.reg.URL+"/v2/", nil)
	t0 := time.Now()
	_, err := tr.RoundTrip(req)
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("returned after %v", d)
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "retry: ") {
		t.Fatalf("err = %v", err)
	}
	if n := e.p.Count("", ""); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestConnectionErrors(t *testing.T) {
	t.Run("dropped then ok", func(t *testing.T) {
		e := newEnv(t, regserver.Options{})
		tr := e.transport(fast())
		e.add(t, faultproxy.Rule{Method: "GET", Times: 2, Fault: faultproxy.DropResponseAfter(0)})
		req, _ := http.NewRequest("GET", e.reg.URL+"/v2/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || e.log.len() != 2 {
			t.Fatalf("status %d after %d retries", resp.StatusCode, e.log.len())
		}
	})
	t.Run("refused three times", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		log := &retryLog{}
		o := fast()
		o.OnRetry = log.hook
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/", nil)
		_, err = retry.NewTransport(nil, o).RoundTrip(req)
		var ge *retry.GiveUpError
		if !errors.As(err, &ge) || len(ge.Attempts) != 3 || log.len() != 2 {
			t.Fatalf("err = %v, %d retries; want 3 attempts", err, log.len())
		}
		if !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tls not retried", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the failed handshake is the point
		srv.StartTLS()
		defer srv.Close()
		log := &retryLog{}
		o := fast()
		o.OnRetry = log.hook
		req, _ := http.NewRequest("GET", srv.URL+"/v2/", nil)
		_, err := retry.NewTransport(http.DefaultTransport.(*http.Transport).Clone(), o).RoundTrip(req)
		if err == nil || log.len() != 0 {
			t.Fatalf("err = %v after %d retries; want a TLS error and none", err, log.len())
		}
	})
}

// TestNoSecretsReported pushes through oras' auth.Client with basic
// credentials and a signed-looking URL and checks that neither OnRetry nor
// the error carry the password, the Basic value or the query.
func TestNoSecretsReported(t *testing.T) {
	const user, pass, sig = "alice", "s3cret-pw", "X-Amz-Signature=topsecretsig"
	e := newEnv(t, regserver.Options{Username: user, Password: pass})
	ctx := context.Background()

	var sawAuth sync.Map
	spy := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if a := r.Header.Get("Authorization"); a != "" {
			sawAuth.Store(a, true)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	o := fast()
	o.MaxAttempts = 3
	o.OnRetry = e.log.hook
	client := &auth.Client{
		Client:     &http.Client{Transport: retry.NewTransport(spy, o)},
		Cache:      auth.NewCache(),
		Credential: auth.StaticCredential(e.reg.Host, auth.Credential{Username: user, Password: pass}),
	}
	// Log in once so the Basic value is cached and sent up front.
	req, _ := http.NewRequestWithContext(ctx, "GET", e.reg.URL+"/v2/", nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()

	e.add(t, faultproxy.Rule{Path: `/blobs/`, Fault: faultproxy.Status(503)})
	dgst := digest.FromString("x")
	req, _ = http.NewRequestWithContext(ctx, "GET", "http://"+user+":"+pass+"@"+e.reg.Host+"/v2/s/blobs/"+dgst.String()+"?"+sig, nil)
	_, err = client.Do(req)
	var ge *retry.GiveUpError
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v", err)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if _, ok := sawAuth.Load("Basic " + basic); !ok {
		t.Fatal("requests did not carry the credentials; the test proves nothing")
	}
	if e.log.len() != 2 {
		t.Fatalf("%d retries, want 2", e.log.len())
	}
	var reported []string
	reported = append(reported, ge.Error(), ge.URL)
	for _, c := range e.log.calls {
		reported = append(reported, c.reason, c.req.URL.String(), fmt.Sprint(c.req.Header), c.req.Host)
		if c.req.Header.Get("Authorization") != "" || c.req.URL.User != nil || c.req.URL.RawQuery != "" {
			t.Errorf("OnRetry request carries secrets: %v %v", c.req.Header, c.req.URL)
		}
	}
	for _, s := range reported {
		for _, secret := range []string{pass, basic, "topsecretsig", "Basic"} {
			if strings.Contains(s, secret) {
				t.Errorf("reported %q contains %q", s, secret)
			}
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		`PATCH "http://127.0.0.1:5000/v2/a/blobs/uploads/1?_state=abc%3D": GET "https://auth.example/token?scope=x&service=y": 401`: `PATCH "http://127.0.0.1:5000/v2/a/blobs/uploads/1": GET "https://auth.example/token": 401`,
		`fetch https://user:secret@registry.example/v2/x#frag failed`:                                                               `fetch https://registry.example/v2/x failed`,
		`redirected to https://bucket.s3.example/blob?X-Amz-Signature=deadbeef&X-Amz-Credential=k 'then'`:                           `redirected to https://bucket.s3.example/blob 'then'`,
		`no url here: a?b=c`: `no url here: a?b=c`,
	} {
		if got := retry.RedactText(in); got != want {
			t.Errorf("RedactText(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func TestRedactStringAndError(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:p@h:1/g?token=t#f":        "http://h:1/g",
		"https://h/g":                       "https://h/g",
		"http://u:p@[::1/graph?token=t":     "http://[::1/graph",
		"not a url, but ?token=t is no URL": "not a url, but ?token=t is no URL",
	} {
		if got := retry.RedactString(in); got != want {
			t.Errorf("RedactString(%q) = %q, want %q", in, got, want)
		}
	}
	base := errors.New(`Get "http://u:secret@h/x?sig=s": boom`)
	err := retry.RedactError(base)
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sig=") || !errors.Is(err, base) {
		t.Fatalf("RedactError = %q (unwraps to base: %v)", err, errors.Is(err, base))
	}
	if retry.RedactError(nil) != nil {
		t.Fatal("RedactError(nil) != nil")
	}
}

// A host that answered nothing for a whole budget is not asked again for
// one more budget: later requests fail at once, naming it.
func TestSilentHostNotAskedAgain(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	rt := retry.NewTransport(http.DefaultTransport, retry.Options{Budget: 500 * time.Millisecond})
	get := func() (time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/v2/x/manifests/a", nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return time.Since(start), err
	}
	if took, err := get(); !errors.Is(err, retry.ErrGaveUp) || took > 2*time.Second {
		t.Fatalf("first request: %v after %s", err, took)
	}
	took, err := get()
	if !errors.Is(err, retry.ErrGaveUp) || took > 100*time.Millisecond || !strings.Contains(err.Error(), "answered nothing to another request") {
		t.Fatalf("second request: %v after %s, want an immediate refusal", err, took)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d requests reached the server, want 1", got)
	}
	time.Sleep(600 * time.Millisecond) // one budget later it is asked again
	if _, err := get(); !errors.Is(err, retry.ErrGaveUp) || n.Load() != 2 {
		t.Fatalf("after the pause: %v, %d requests", err, n.Load())
	}
}

// NewClient keeps what the base client sets and retries underneath it: the
// plain-HTTP fetches (update graph, signatures, graph data) share the
// registry's policy.
func TestNewClient(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "graph")
	}))
	defer srv.Close()
	base := &http.Client{Timeout: 7 * time.Second}
	c := retry.NewClient(base, fast())
	if c.Timeout != base.Timeout || base.Transport != nil {
		t.Fatalf("timeout %v (want %v), base transport changed to %T", c.Timeout, base.Timeout, base.Transport)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "graph" || n.Load() != 3 {
		t.Fatalf("status %d body %q after %d requests, want 200 \"graph\" after 3", resp.StatusCode, body, n.Load())
	}
	// A nil base works too, and a 404 is not retried.
	nf := httptest.NewServer(http.NotFoundHandler())
	defer nf.Close()
	resp, err = retry.NewClient(nil, fast()).Get(nf.URL)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %v, error %v", resp, err)
	}
	resp.Body.Close()
}
