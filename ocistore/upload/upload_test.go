package upload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/ocistore/upload"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

const (
	user = "alice"
	pass = "pw"
	mib  = 1 << 20
)

type env struct {
	p      *faultproxy.Proxy
	reg    *regserver.Registry
	client *auth.Client
	logs   *logs
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newEnv starts a registry requiring basic auth behind a fault proxy, and an
// oras auth.Client over the retry transport, as the tools will use them.
func newEnv(t *testing.T) *env {
	t.Helper()
	p := faultproxy.New()
	reg := regserver.New(t, regserver.Options{Wrap: p.Wrap, Username: user, Password: pass})
	tr := retry.NewTransport(http.DefaultTransport.(*http.Transport).Clone(),
		retry.Options{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	return &env{p: p, reg: reg, logs: &logs{}, client: &auth.Client{
		Client:     &http.Client{Transport: tr},
		Cache:      auth.NewCache(),
		Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: user, Password: pass}),
	}}
}

func (e *env) add(t *testing.T, r faultproxy.Rule) {
	t.Helper()
	if err := e.p.Add(r); err != nil {
		t.Fatal(err)
	}
}

func (e *env) opts(chunk int64) upload.Options {
	return upload.Options{ChunkSize: chunk, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Logf: e.logs.logf}
}

// fetch reads the blob back from the registry (through oras) and checks its
// digest and size.
func (e *env) fetch(t *testing.T, repo string, desc ocispec.Descriptor) {
	t.Helper()
	r, err := remote.NewRepository(e.reg.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	r.Client = e.client
	rc, err := r.Fetch(context.Background(), desc)
	if err != nil {
		t.Fatalf("fetch %s from %s: %v", desc.Digest, repo, err)
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, desc)
	if _, err := io.Copy(io.Discard, vr); err != nil {
		t.Fatal(err)
	}
	if err := vr.Verify(); err != nil {
		t.Fatalf("registry serves other bytes: %v", err)
	}
}

func blob(seed uint64, n int) ([]byte, ocispec.Descriptor) {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b, content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, b)
}

func opener(b []byte, opens *int) upload.Opener {
	var mu sync.Mutex
	return func(off int64) (io.ReadCloser, error) {
		mu.Lock()
		if opens != nil {
			*opens++
		}
		mu.Unlock()
		return io.NopCloser(bytes.NewReader(b[off:])), nil
	}
}

func sumRequestBytes(recs []faultproxy.Record) (n int64) {
	for _, r := range recs {
		n += r.RequestBytes
	}
	return n
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(1, 40*mib)
	const chunk = 4 * mib
	// The 3rd PATCH (bytes 8-12 MiB) loses its connection 2 MiB in, i.e.
	// 10 MiB into the blob; the 9th gets a 503.
	e.add(t, faultproxy.Rule{Method: "PATCH", Skip: 2, Times: 1, Fault: faultproxy.DropRequestAfter(2 * mib)})
	e.add(t, faultproxy.Rule{Method: "PATCH", Skip: 5, Times: 1, Fault: faultproxy.Status(503)})

	res, err := upload.Push(context.Background(), e.client, e.reg.URL, "big/layer", desc, opener(data, nil), e.opts(chunk))
	if err != nil {
		t.Fatalf("push: %v\nlog:\n%s", err, e.logs)
	}
	e.p.WaitIdle(5 * time.Second)
	if !res.Chunked || res.Resumes != 2 || res.Sessions != 1 {
		t.Errorf("result %+v, want chunked, 2 resumes, 1 session", res)
	}
	patches := e.p.Select("PATCH", "")
	// 2 good, 1 dropped at 10 MiB, then 10-14 ... 38-40 (8 chunks), one of
	// them answered 503 once.
	if len(patches) != 12 || res.Chunks != 10 {
		t.Errorf("%d PATCH requests, %d accepted; want 12, 10", len(patches), res.Chunks)
	}
	if got := sumRequestBytes(patches); got != int64(len(data)) {
		t.Errorf("registry received %d PATCH bytes, want exactly %d (no byte sent twice)", got, len(data))
	}
	if max := int64(len(data)) + 2*chunk; res.BytesSent >= max || res.BytesSent < int64(len(data)) {
		t.Errorf("sent %d bytes, want %d <= n < %d (no restart from zero)", res.BytesSent, len(data), max)
	}
	if n := e.p.Count("GET", `/blobs/uploads/`); n != 2 {
		t.Errorf("%d upload status requests, want 2", n)
	}
	if !strings.Contains(e.logs.String(), "registry has 10485760 of 41943040 bytes, resuming there") {
		t.Errorf("log lacks the resume from 10 MiB:\n%s", e.logs)
	}
	e.fetch(t, "big/layer", desc)
}

func TestMount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data, desc := blob(2, 3*mib)
	if _, err := upload.Push(ctx, e.client, e.reg.URL, "src/repo", desc, opener(data, nil), e.opts(mib)); err != nil {
		t.Fatal(err)
	}
	e.p.ResetRecords()
	mounted, err := upload.Mount(ctx, e.client, e.reg.URL, "dst/repo", "src/repo", desc)
	if err != nil || !mounted {
		t.Fatalf("mount: %v %v", mounted, err)
	}
	var posts []faultproxy.Record
	for _, r := range e.p.Records() {
		if r.RequestBytes != 0 || r.Method == "PATCH" || r.Method == "PUT" {
			t.Errorf("blob bytes sent during a mount: %+v", r)
		}
		if r.Method == "POST" && r.Status == http.StatusCreated {
			posts = append(posts, r)
		}
	}
	if len(posts) != 1 {
		t.Errorf("records %+v, want one POST answered 201", e.p.Records())
	}
	e.fetch(t, "dst/repo", desc)

	// A blob the source does not have: 202, session cancelled, false.
	_, other := blob(3, 100)
	e.p.ResetRecords()
	mounted, err = upload.Mount(ctx, e.client, e.reg.URL, "dst/repo", "src/repo", other)
	if err != nil || mounted {
		t.Fatalf("mount of unknown blob: %v %v, want false, nil", mounted, err)
	}
	if n := e.p.Count("DELETE", `/blobs/uploads/`); n != 1 {
		t.Errorf("%d DELETEs of the unused session, want 1", n)
	}
}

func TestFallbackToMonolithic(t *testing.T) {
	tests := []struct {
		name  string
		rules []faultproxy.Rule
	}{
		{"416 on PATCH", []faultproxy.Rule{{Method: "PATCH", Fault: faultproxy.Status(416)}}},
		{"400 on PATCH", []faultproxy.Rule{{Method: "PATCH", Fault: faultproxy.Status(400)}}},
		{"no status endpoint", []faultproxy.Rule{
			{Method: "PATCH", Skip: 1, Times: 1, Fault: faultproxy.Status(500)},
			{Method: "GET", Path: `/blobs/uploads/`, Fault: faultproxy.Status(405)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, r := range tt.rules {
				e.add(t, r)
			}
			data, desc := blob(4, 2*mib+17)
			res, err := upload.Push(context.Background(), e.client, e.reg.URL, "mono/repo", desc, opener(data, nil), e.opts(512<<10))
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if res.Chunked {
				t.Errorf("result %+v, want the monolithic path", res)
			}
			if !strings.Contains(e.logs.String(), "falling back to one monolithic PUT") {
				t.Errorf("no fall-back log line:\n%s", e.logs)
			}
			e.p.WaitIdle(5 * time.Second)
			puts := e.p.Select("PUT", `/blobs/uploads/`)
			if len(puts) != 1 || puts[0].RequestBytes != int64(len(data)) || puts[0].Status != 201 {
				t.Errorf("PUTs %+v, want one 201 carrying the whole blob", puts)
			}
			e.fetch(t, "mono/repo", desc)
		})
	}
}

func TestExpiredSessionStartsAgain(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(5, 3*mib)
	e.add(t, faultproxy.Rule{Method: "PATCH", Skip: 1, Times: 1, Fault: faultproxy.DropRequestAfter(1000)})
	e.add(t, faultproxy.Rule{Method: "GET", Path: `/blobs/uploads/`, Times: 1, Fault: faultproxy.OCIError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")})
	res, err := upload.Push(context.Background(), e.client, e.reg.URL, "exp/repo", desc, opener(data, nil), e.opts(mib))
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if res.Sessions != 2 || !res.Chunked {
		t.Errorf("result %+v, want 2 sessions", res)
	}
	if !strings.Contains(e.logs.String(), "starting a new upload session") {
		t.Errorf("log:\n%s", e.logs)
	}
	e.fetch(t, "exp/repo", desc)
}

func TestPersistentFailureGivesUp(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(6, 2*mib)
	e.add(t, faultproxy.Rule{Method: "PATCH", Skip: 1, Fault: faultproxy.Status(500)})
	o := e.opts(mib)
	o.MaxFailures = 3
	_, err := upload.Push(context.Background(), e.client, e.reg.URL, "fail/repo", desc, opener(data, nil), o)
	if !errors.Is(err, upload.ErrGaveUp) || !strings.Contains(err.Error(), "at offset 1048576 of 2097152 after 4 failures in a row") {
		t.Fatalf("err = %v", err)
	}
	if n := e.p.Count("PATCH", ""); n != 5 {
		t.Fatalf("%d PATCHes, want 1 good + 4 failed", n)
	}
}

func TestRegistryRejectsContent(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(7, mib)
	bad := bytes.Clone(data)
	bad[12345] ^= 1
	_, err := upload.Push(context.Background(), e.client, e.reg.URL, "bad/repo", desc, opener(bad, nil), e.opts(256<<10))
	var re *upload.RegistryError
	if !errors.As(err, &re) || re.Status != 400 || len(re.Codes) != 1 || re.Codes[0] != "DIGEST_INVALID" {
		t.Fatalf("err = %v, want 400 DIGEST_INVALID", err)
	}
	if strings.Contains(err.Error(), "_state") {
		t.Fatalf("error carries the upload state query: %v", err)
	}
}

func TestShortSource(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(8, mib)
	_, err := upload.Push(context.Background(), e.client, e.reg.URL, "short/repo", desc, opener(data[:mib-10], nil), e.opts(256<<10))
	if !errors.Is(err, upload.ErrShortSource) {
		t.Fatalf("err = %v, want ErrShortSource", err)
	}
}

func TestEmptyBlob(t *testing.T) {
	e := newEnv(t)
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, nil)
	res, err := upload.Push(context.Background(), e.client, e.reg.URL, "empty/repo", desc, opener(nil, nil), e.opts(0))
	if err != nil || res.Chunks != 0 {
		t.Fatalf("push empty: %+v %v", res, err)
	}
	e.fetch(t, "empty/repo", desc)
}

func TestInvalidArguments(t *testing.T) {
	e := newEnv(t)
	good := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, []byte("x"))
	tests := []struct {
		name       string
		base, repo string
		desc       ocispec.Descriptor
	}{
		{"traversal digest", e.reg.URL, "r", ocispec.Descriptor{Digest: "sha256:../../etc/passwd", Size: 1}},
		{"upper-case digest", e.reg.URL, "r", ocispec.Descriptor{Digest: digest.Digest(strings.ToUpper(string(good.Digest))), Size: 1}},
		{"bad repo", e.reg.URL, "../x", good},
		{"base with path", e.reg.URL + "/v2", "r", good},
		{"negative size", e.reg.URL, "r", ocispec.Descriptor{Digest: good.Digest, Size: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upload.Push(context.Background(), e.client, tt.base, tt.repo, tt.desc, opener([]byte("x"), nil), upload.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), "upload: ") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if n := len(e.p.Records()); n != 0 {
		t.Fatalf("%d requests sent for invalid arguments", n)
	}
}

func TestCancelDuringResumeWait(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(9, 2*mib)
	e.add(t, faultproxy.Rule{Method: "PATCH", Fault: faultproxy.Status(503)})
	o := e.opts(mib)
	o.BaseDelay, o.MaxDelay = time.Minute, time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	t0 := time.Now()
	_, err := upload.Push(ctx, e.client, e.reg.URL, "cancel/repo", desc, opener(data, nil), o)
	if !errors.Is(err, context.Canceled) || time.Since(t0) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(t0))
	}
}

// A registry (or its proxy) that refuses PATCH bodies over 4 MiB with 413:
// the same offset is sent again in halves, 16 MiB -> 8 MiB -> 4 MiB, and
// the blob goes up in 4 MiB chunks from there, nothing sent twice but the
// refused bodies.
func TestPatchTooLargeIsHalved(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(5, 20*mib)
	e.add(t, faultproxy.Rule{Method: "PATCH", MinBody: 4*mib + 1, Fault: faultproxy.Status(http.StatusRequestEntityTooLarge)})
	res, err := upload.Push(context.Background(), e.client, e.reg.URL, "small/bodies", desc, opener(data, nil), e.opts(16*mib))
	if err != nil {
		t.Fatalf("push: %v\nlog:\n%s", err, e.logs)
	}
	if res.Chunks != 5 || res.Resumes != 0 || res.Sessions != 1 {
		t.Errorf("result %+v, want 5 chunks, no resume, 1 session", res)
	}
	var refused, accepted int64
	for _, r := range e.p.Select("PATCH", "") {
		if r.Status == http.StatusRequestEntityTooLarge {
			refused++
		} else {
			accepted += r.RequestBytes
		}
	}
	if refused != 2 || accepted != int64(len(data)) {
		t.Errorf("%d PATCHes refused, %d bytes accepted; want 2 and %d", refused, accepted, len(data))
	}
	if !strings.Contains(e.logs.String(), "refuses a PATCH of 8388608 bytes (413); chunks of 4194304 bytes from offset 0") {
		t.Errorf("log lacks the halving:\n%s", e.logs)
	}
	e.fetch(t, "small/bodies", desc)
}

// 413 on a PATCH of the minimum size: the registry's answer, no retry.
func TestPatchTooLargeAtTheMinimum(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(6, 6*mib)
	e.add(t, faultproxy.Rule{Method: "PATCH", Fault: faultproxy.Status(http.StatusRequestEntityTooLarge)})
	_, err := upload.Push(context.Background(), e.client, e.reg.URL, "tiny/bodies", desc, opener(data, nil), e.opts(4*mib))
	if err == nil || !strings.Contains(err.Error(), "413") {
		t.Fatalf("push: %v, want the registry's 413", err)
	}
	if n := e.p.Count("PATCH", ""); n != 3 { // 4 MiB, 2 MiB, 1 MiB
		t.Errorf("%d PATCH requests, want 3", n)
	}
}

// Monolithic: the connection drops 1 MiB into the PUT. A new session takes
// the blob whole (the old one may hold part of the body), nothing else.
func TestMonolithicDroppedStartsANewSession(t *testing.T) {
	e := newEnv(t)
	data, desc := blob(7, 3*mib)
	e.add(t, faultproxy.Rule{Method: "PUT", Path: `/blobs/uploads/`, Times: 1, Fault: faultproxy.DropRequestAfter(mib)})
	opts := e.opts(0)
	opts.Monolithic = true
	res, err := upload.Push(context.Background(), e.client, e.reg.URL, "mono/dropped", desc, opener(data, nil), opts)
	if err != nil {
		t.Fatalf("push: %v\nlog:\n%s", err, e.logs)
	}
	if res.Chunked || res.Sessions != 2 {
		t.Errorf("result %+v, want monolithic, 2 sessions", res)
	}
	if !strings.Contains(e.logs.String(), "starting again in a new session") {
		t.Errorf("log lacks the new session:\n%s", e.logs)
	}
	e.fetch(t, "mono/dropped", desc)
}
