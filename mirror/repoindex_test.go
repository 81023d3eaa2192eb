package mirror

import (
	"bytes"
	"context"
	"io"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// streamOnly hides the Seek of what a fetcher returns.
type streamOnly struct{ content.Fetcher }

func (s streamOnly) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.Fetcher.Fetch(ctx, d)
	return struct{ io.ReadCloser }{rc}, err
}

// openAt reopens a blob of a real registry at any offset (with a range
// request where the body seeks, by skipping otherwise): the bytes from off
// to the end, exactly.
func TestOpenAt(t *testing.T) {
	ctx := context.Background()
	reg := regserver.New(t, regserver.Options{})
	repo, err := remote.NewRepository(reg.Host + "/a/b")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	blob := archivetest.Blob(4, 300<<10, false)
	desc, err := oras.PushBytes(ctx, repo, "application/octet-stream", blob)
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]content.Fetcher{"seekable": repo, "stream": streamOnly{repo}} {
		for _, off := range []int64{0, 1, 65536, desc.Size - 1, desc.Size} {
			rc, err := openAt(src)(ctx, desc, off)
			if err != nil {
				t.Fatalf("%s at %d: %v", name, off, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s at %d: read: %v", name, off, err)
			}
			if !bytes.Equal(got, blob[off:]) {
				t.Fatalf("%s at %d: %d bytes, not the blob's last %d", name, off, len(got), desc.Size-off)
			}
		}
	}
}
