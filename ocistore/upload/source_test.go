package upload_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/enclave-mirror/enclave/ocistore/upload"
)

var errMedium = errors.New("input/output error")

// failAfter reads n bytes of r, then fails with errMedium.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errMedium
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestSourceErrorIsNotRetried: a source that fails to read (a bad disk, a
// damaged archive) is not a network failure. Push stops at once with the
// source's error (errors.Is), neither resumed nor sent again by the retry
// transport, in both the chunked and the monolithic path; its upload
// session is cancelled.
func TestSourceErrorIsNotRetried(t *testing.T) {
	for _, monolithic := range []bool{false, true} {
		e := newEnv(t)
		data, desc := blob(10, 3*mib)
		open := func(off int64) (io.ReadCloser, error) {
			return io.NopCloser(&failAfter{r: bytes.NewReader(data[off:]), n: int(3*mib/2 - off)}), nil
		}
		o := e.opts(mib)
		o.Monolithic = monolithic
		res, err := upload.Push(context.Background(), e.client, e.reg.URL, "src/err", desc, open, o)
		if !errors.Is(err, errMedium) {
			t.Fatalf("monolithic=%v: err = %v, want the source's error", monolithic, err)
		}
		if res.Resumes != 0 || res.Sessions != 1 {
			t.Errorf("monolithic=%v: result %+v, want no resume, one session", monolithic, res)
		}
		if n := e.p.Count("PATCH", "") + e.p.Count("PUT", ""); n > 2 {
			t.Errorf("monolithic=%v: %d PATCH/PUT requests, want the failing one sent once", monolithic, n)
		}
		// The session is abandoned, not left for the registry to purge.
		if n := e.p.Count("DELETE", "/blobs/uploads/"); n != 1 {
			t.Errorf("monolithic=%v: %d DELETE of the upload session, want 1", monolithic, n)
		}
	}
}
