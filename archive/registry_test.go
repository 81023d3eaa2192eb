package archive_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

func repoFunc(t testing.TB, host string) archivetest.RepoFunc {
	return func(name string) (oras.Target, error) {
		r, err := remote.NewRepository(host + "/" + name)
		if err != nil {
			return nil, err
		}
		r.PlainHTTP = true
		return r, nil
	}
}

func mustRepo(t testing.TB, host, name string) *remote.Repository {
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		panic(err)
	}
	r.PlainHTTP = true
	return r
}

// pack copies every tag of sample from the registry at host into a new
// archive in dir, with referrers.
func pack(t testing.TB, host string, s *archivetest.Sample, dir string, opts ...archive.CreateOption) *archive.Writer {
	t.Helper()
	ctx := context.Background()
	w, err := archive.Create(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for ref := range s.Tags {
		repo, tag, _ := strings.Cut(ref, ":")
		src := mustRepo(t, host, repo)
		copts := oras.ExtendedCopyOptions{ExtendedCopyGraphOptions: oras.ExtendedCopyGraphOptions{CopyGraphOptions: oras.CopyGraphOptions{Concurrency: 6}}}
		if _, err := oras.ExtendedCopy(ctx, src, tag, w, "example.com/"+ref, copts); err != nil {
			w.Abort()
			t.Fatalf("pack %s: %v", ref, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

// unpack pushes every tagged root of the archive in dir to the registry at
// host under the reference's repository path.
func unpack(t testing.TB, dir, host string) *archive.Reader {
	t.Helper()
	ctx := context.Background()
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for _, root := range r.Roots() {
		for _, ref := range root.References {
			path := strings.TrimPrefix(ref, "example.com/")
			repo, tag, _ := strings.Cut(path, ":")
			dst := mustRepo(t, host, repo)
			copts := oras.ExtendedCopyOptions{ExtendedCopyGraphOptions: oras.ExtendedCopyGraphOptions{CopyGraphOptions: oras.CopyGraphOptions{Concurrency: 6}}}
			if _, err := oras.ExtendedCopy(ctx, r, ref, dst, tag, copts); err != nil {
				t.Fatalf("unpack %s: %v", ref, err)
			}
		}
	}
	return r
}

func TestPackUnpackRegistry(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	sample, err := archivetest.SampleSet(ctx, repoFunc(t, src.Host), 1, 1<<20+4321)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := pack(t, src.Host, sample, dir, archive.WithChunkSize(64<<10), archive.WithVolumeSize(400<<10))

	rep, r, err := archive.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
	if len(r.Volumes()) < 3 {
		t.Fatalf("%d volumes, want several", len(r.Volumes()))
	}
	if r.ID() != w.ID() || r.Delta() != nil {
		t.Fatalf("id %s vs %s, delta %v", r.ID(), w.ID(), r.Delta())
	}
	// Two tagged roots and the referrer.
	if got := len(r.Roots()); got != 3 {
		t.Fatalf("%d roots, want 3", got)
	}

	unpack(t, dir, dst.Host)
	for ref, root := range sample.Tags {
		repo, tag, _ := strings.Cut(ref, ":")
		d := mustRepo(t, dst.Host, repo)
		got, err := d.Resolve(ctx, tag)
		if err != nil {
			t.Fatalf("resolve %s at destination: %v", ref, err)
		}
		if got.Digest != root.Digest {
			t.Fatalf("%s: destination digest %s, source %s", ref, got.Digest, root.Digest)
		}
		if err := archivetest.SameGraph(ctx, mustRepo(t, src.Host, repo), d, root); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	// The referrer travelled with its subject and is found by the
	// destination's referrers lookup (tag schema on distribution).
	for subj, refs := range sample.Referrers {
		d := mustRepo(t, dst.Host, "team/tool")
		var found []ocispec.Descriptor
		if err := d.Referrers(ctx, ocispec.Descriptor{Digest: subj, MediaType: ocispec.MediaTypeImageManifest, Size: sample.Tags["team/tool:v1"].Size}, "", func(r []ocispec.Descriptor) error {
			found = append(found, r...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(found) != len(refs) || found[0].Digest != refs[0].Digest {
			t.Fatalf("referrers at destination = %v, want %v", found, refs)
		}
	}
}

func TestDeltaChain(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	s1, err := archivetest.SampleSet(ctx, repoFunc(t, src.Host), 1, 200<<10)
	if err != nil {
		t.Fatal(err)
	}
	dirA := t.TempDir()
	pack(t, src.Host, s1, dirA)
	ra := unpack(t, dirA, dst.Host)

	// B: the same images plus a second variant, cut against A.
	s2, err := archivetest.SampleSet(ctx, repoFunc(t, src.Host), 2, 200<<10)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s1.Tags {
		s2.Tags[k] = v
	}
	dirB := t.TempDir()
	wb := pack(t, src.Host, s2, dirB, archive.WithBasePath(dirA))
	rb, err := archive.Open(dirB)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	d := rb.Delta()
	if d == nil || len(d.Prerequisites) == 0 || len(d.Bases) != 1 || d.Bases[0].Archive != ra.ID().String() {
		t.Fatalf("delta = %+v", d)
	}
	// Nothing A holds is in B.
	ra.Format().Blobs(func(b format.Blob) bool {
		if _, ok := rb.Format().Lookup(b.Digest); ok {
			t.Errorf("blob %s of A is packed again in B", b.Digest)
		}
		return true
	})
	st := wb.Stats()
	if st.SkippedBlobs == 0 || st.Blobs == 0 {
		t.Fatalf("stats = %+v", st)
	}
	if m := rb.Manifest(); m.Lineage != ra.Manifest().Lineage || m.Sequence != ra.Manifest().Sequence+1 {
		t.Fatalf("lineage %s/%d after %s/%d", m.Lineage, m.Sequence, ra.Manifest().Lineage, ra.Manifest().Sequence)
	}

	// Preflight: an empty registry lacks the prerequisites, each named with
	// what needs it and the archive that provides it.
	empty := regserver.New(t, regserver.Options{})
	existsAt := func(host string) archive.ExistsFunc {
		return func(ctx context.Context, root format.Root, desc ocispec.Descriptor) (bool, error) {
			ref := strings.TrimPrefix(root.References[0], "example.com/")
			repo, _, _ := strings.Cut(ref, ":")
			return mustRepo(t, host, repo).Exists(ctx, desc)
		}
	}
	missing, err := archive.Preflight(ctx, rb, existsAt(empty.Host), func(r format.Root) bool { return len(r.References) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 || missing[0].ProvidedBy != "archive:"+ra.ID().String() || len(missing[0].NeededBy) == 0 {
		t.Fatalf("missing = %v", missing)
	}
	// At the destination that applied A, nothing is missing and B unpacks.
	missing, err = archive.Preflight(ctx, rb, existsAt(dst.Host), func(r format.Root) bool { return len(r.References) > 0 })
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing at destination = %v, %v", missing, err)
	}
	unpack(t, dirB, dst.Host)
	for ref, root := range s2.Tags {
		repo, _, _ := strings.Cut(ref, ":")
		if err := archivetest.SameGraph(ctx, mustRepo(t, src.Host, repo), mustRepo(t, dst.Host, repo), root); err != nil {
			t.Fatalf("%s after B: %v", ref, err)
		}
	}

	// C cut against a receipt of what the destination holds: a receipt
	// listing everything A and B brought makes an archive of the same set
	// empty of blobs.
	rec := &archive.Receipt{Destination: dst.Host}
	for _, r := range []*archive.Reader{ra, rb} {
		r.Format().Blobs(func(b format.Blob) bool { rec.Add(b.Digest, b.Size, "", ""); return true })
	}
	recPath := t.TempDir() + "/receipt.json"
	if _, err := archive.WriteReceipt(recPath, rec); err != nil {
		t.Fatal(err)
	}
	dirC := t.TempDir()
	wc := pack(t, src.Host, s2, dirC, archive.WithBasePath(recPath))
	if st := wc.Stats(); st.Blobs != 0 {
		t.Fatalf("archive cut against a complete receipt packed %d blobs", st.Blobs)
	}
}

func TestCreateRefusesExistingArchive(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	s, err := archivetest.SampleSet(ctx, repoFunc(t, src.Host), 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pack(t, src.Host, s, dir)
	if _, err := archive.Create(dir); !errors.Is(err, archive.ErrExists) {
		t.Fatalf("Create over an archive: err = %v", err)
	}
}

type formatBlob = format.Blob
