package faultproxy_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

func start(t *testing.T) (*faultproxy.Proxy, *regserver.Registry) {
	t.Helper()
	p := faultproxy.New()
	reg := regserver.New(t, regserver.Options{Wrap: p.Wrap})
	return p, reg
}

func add(t *testing.T, p *faultproxy.Proxy, r faultproxy.Rule) {
	t.Helper()
	if err := p.Add(r); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, method, url string, body []byte) (*http.Response, []byte, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh transport per request: a dropped connection must not be
	// retried silently by a pooled one.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestStatusSkipTimes(t *testing.T) {
	p, reg := start(t)
	add(t, p, faultproxy.Rule{Method: "GET", Path: `^/v2/$`, Skip: 1, Times: 2, Fault: faultproxy.Status(503)})
	var got []int
	for range 4 {
		resp, _, err := do(t, "GET", reg.URL+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.StatusCode)
	}
	want := []int{200, 503, 503, 200}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	recs := p.Select("GET", `^/v2/$`)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, r := range recs {
		if r.Status != want[i] {
			t.Errorf("record %d status %d, want %d", i, r.Status, want[i])
		}
		if (r.Fault == faultproxy.KindStatus) != (want[i] == 503) {
			t.Errorf("record %d fault %v", i, r.Fault)
		}
	}
	if n := p.Count("POST", ""); n != 0 {
		t.Errorf("Count(POST) = %d", n)
	}
}

func TestRetryAfterAndOCIError(t *testing.T) {
	p, reg := start(t)
	add(t, p, faultproxy.Rule{Path: `/a/`, Times: 1, Fault: faultproxy.RetryAfter(429, "7")})
	add(t, p, faultproxy.Rule{Path: `/b/`, Times: 1, Fault: faultproxy.OCIError(403, "DENIED", "no")})
	resp, _, err := do(t, "GET", reg.URL+"/v2/a/manifests/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("got %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, body, err := do(t, "GET", reg.URL+"/v2/b/manifests/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 || !strings.Contains(string(body), `"code":"DENIED"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	// Spent rules let the real registry answer.
	resp, _, err = do(t, "GET", reg.URL+"/v2/a/manifests/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 {
		t.Fatalf("after the rule: %d, want the registry's 404", resp.StatusCode)
	}
}

func TestAddRejectsBadRules(t *testing.T) {
	p := faultproxy.New()
	for name, r := range map[string]faultproxy.Rule{
		"bad regexp": {Path: "(", Fault: faultproxy.Status(500)},
		"bad status": {Fault: faultproxy.Status(42)},
		"no kind":    {},
		"negative":   {Skip: -1, Fault: faultproxy.Status(500)},
		"drop < 0":   {Fault: faultproxy.DropRequestAfter(-1)},
	} {
		if err := p.Add(r); err == nil || !strings.HasPrefix(err.Error(), "faultproxy: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// startUpload opens an upload session and returns its location.
func startUpload(t *testing.T, reg *regserver.Registry, repo string) string {
	t.Helper()
	resp, _, err := do(t, "POST", reg.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("start upload: %v %v", resp, err)
	}
	return resp.Header.Get("Location")
}

func TestDropRequestAfter(t *testing.T) {
	p, reg := start(t)
	const n = 100 << 10
	add(t, p, faultproxy.Rule{Method: "PATCH", Times: 1, Fault: faultproxy.DropRequestAfter(n)})
	loc := startUpload(t, reg, "drop/req")
	blob := bytes.Repeat([]byte("x"), 1<<20)
	_, _, err := do(t, "PATCH", loc, blob)
	if err == nil {
		t.Fatal("PATCH succeeded through a dropped connection")
	}
	if !p.WaitIdle(5 * time.Second) {
		t.Fatal("proxy still busy")
	}
	recs := p.Select("PATCH", "")
	if len(recs) != 1 || recs[0].RequestBytes != n || recs[0].Fault != faultproxy.KindDropRequest || recs[0].Status != 0 {
		t.Fatalf("records %+v", recs)
	}
	// The registry kept exactly what passed the proxy.
	resp, _, err := do(t, "GET", loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", n-1); resp.StatusCode != 204 || got != want {
		t.Fatalf("upload status %d Range %q, want 204 %q", resp.StatusCode, got, want)
	}
}

func TestDropResponseAfter(t *testing.T) {
	p, reg := start(t)
	blob := bytes.Repeat([]byte("0123456789"), 50<<10)
	dgst := fmt.Sprintf("sha256:%x", sha256.Sum256(blob))
	loc := startUpload(t, reg, "drop/resp")
	resp, _, err := do(t, "PUT", loc+"&digest="+dgst, blob)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("push: %v %v", resp, err)
	}
	const n = 64 << 10
	add(t, p, faultproxy.Rule{Method: "GET", Path: `/blobs/sha256:`, Times: 1, Fault: faultproxy.DropResponseAfter(n)})
	_, body, err := do(t, "GET", reg.URL+"/v2/drop/resp/blobs/"+dgst, nil)
	if err == nil || len(body) >= len(blob) {
		t.Fatalf("read %d bytes, err %v; want a cut response", len(body), err)
	}
	p.WaitIdle(5 * time.Second)
	recs := p.Select("GET", `/blobs/sha256:`)
	if len(recs) != 1 || recs[0].ResponseBytes != n || recs[0].Status != 200 {
		t.Fatalf("records %+v", recs)
	}
	// Next time the blob comes whole.
	_, body, err = do(t, "GET", reg.URL+"/v2/drop/resp/blobs/"+dgst, nil)
	if err != nil || !bytes.Equal(body, blob) {
		t.Fatalf("second read: %d bytes, %v", len(body), err)
	}
}

func TestStall(t *testing.T) {
	p, reg := start(t)
	add(t, p, faultproxy.Rule{Path: `^/v2/$`, Times: 1, Fault: faultproxy.Stall(150 * time.Millisecond)})
	t0 := time.Now()
	resp, _, err := do(t, "GET", reg.URL+"/v2/", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, want >= 150ms", d)
	}
}

func TestReverseProxyKeepsHost(t *testing.T) {
	reg := regserver.New(t, regserver.Options{})
	p, err := faultproxy.NewReverseProxy(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	add(t, p, faultproxy.Rule{Method: "POST", Times: 1, Fault: faultproxy.Status(500)})
	resp, _, err := do(t, "POST", front.URL+"/v2/rp/blobs/uploads/", nil)
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("%v %v", resp, err)
	}
	resp, _, err = do(t, "POST", front.URL+"/v2/rp/blobs/uploads/", nil)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("%v %v", resp, err)
	}
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, front.URL+"/") {
		t.Fatalf("Location %q does not point at the proxy %s", loc, front.URL)
	}
	if _, err := faultproxy.NewReverseProxy("ftp://x"); err == nil {
		t.Fatal("ftp target accepted")
	}
}

func TestConcurrentRecords(t *testing.T) {
	p, reg := start(t)
	add(t, p, faultproxy.Rule{Path: `^/v2/$`, Times: 10, Fault: faultproxy.Status(503)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 30 {
		wg.Go(func() {
			resp, _, err := do(t, "GET", reg.URL+"/v2/", nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[503] != 10 || codes[200] != 20 || p.Count("GET", `^/v2/$`) != 30 {
		t.Fatalf("codes %v, records %d", codes, p.Count("GET", ""))
	}
}

func TestNoBackend(t *testing.T) {
	p := faultproxy.New()
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/", nil))
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("code %d", rec.Code)
	}
}
