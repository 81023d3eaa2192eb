package release_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
	"oras.land/oras-go/v2/registry/remote"
)

func newRepo(t *testing.T, reg *regserver.Registry, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(reg.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

// realisticGraph parses one graph of releasetest.RealisticGraphs.
func realisticGraph(t *testing.T, channel, arch string) *release.Graph {
	t.Helper()
	data := releasetest.RealisticGraphs(nil)[releasetest.GraphKey{Channel: channel, Arch: arch}]
	g, err := release.ParseGraph(data)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func noEnv(string) string { return "" }

func readAll(ctx context.Context, s content.ReadOnlyStorage, d ocispec.Descriptor) ([]byte, error) {
	return content.FetchAll(ctx, s, d)
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// swapStore serves other bytes for some digests (a lying registry).
type swapStore struct {
	content.Storage
	swap map[digest.Digest][]byte
}

func (s *swapStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if b, ok := s.swap[d.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return s.Storage.Fetch(ctx, d)
}
