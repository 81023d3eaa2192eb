//go:build unix

package archive_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// TestMain doubles as the crashing packer: with ENCLAVE_CRASH_PACK set, the
// test binary packs from a registry and kills itself (SIGKILL, no cleanup)
// after a number of blobs.
func TestMain(m *testing.M) {
	if dir := os.Getenv("ENCLAVE_CRASH_PACK"); dir != "" {
		crashPack(dir, os.Getenv("ENCLAVE_CRASH_HOST"), os.Getenv("ENCLAVE_CRASH_REFS"), os.Getenv("ENCLAVE_CRASH_AFTER"))
		os.Exit(3) // not reached: the packer kills itself
	}
	os.Exit(m.Run())
}

type killAfter struct {
	oras.Target
	n     int64
	after int64
}

func (k *killAfter) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	if err := k.Target.Push(ctx, d, r); err != nil {
		return err
	}
	if atomic.AddInt64(&k.n, 1) == k.after {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return nil
}

func crashPack(dir, host, refs, after string) {
	n, _ := strconv.ParseInt(after, 10, 64)
	w, err := archive.Create(dir, archive.WithChunkSize(64<<10), archive.WithVolumeSize(300<<10))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	dst := &killAfter{Target: w, after: n}
	for i, ref := range strings.Split(refs, ",") {
		if n < 0 && i == int(-n) {
			// Kill between images: everything of the first ones is complete.
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		repo, tag, _ := strings.Cut(ref, ":")
		src := mustRepo(nil, host, repo)
		if _, err := oras.ExtendedCopy(context.Background(), src, tag, dst, "example.com/"+ref, oras.ExtendedCopyOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	fmt.Fprintln(os.Stderr, "finished without being killed")
	os.Exit(4)
}

// countingRepo counts the bytes fetched from a source.
type countingRepo struct {
	oras.ReadOnlyGraphTarget
	bytes *atomic.Int64
}

func (c countingRepo) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	c.bytes.Add(d.Size)
	return c.ReadOnlyGraphTarget.Fetch(ctx, d)
}

func TestResumeAfterKill(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	s, err := archivetest.SampleSet(ctx, repoFunc(t, src.Host), 1, 900<<10)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for ref := range s.Tags {
		refs = append(refs, ref)
	}
	dir := filepath.Join(t.TempDir(), "content")

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ENCLAVE_CRASH_PACK="+dir, "ENCLAVE_CRASH_HOST="+src.Host,
		"ENCLAVE_CRASH_REFS="+strings.Join(refs, ","), "ENCLAVE_CRASH_AFTER=6")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the packer was not killed: %v\n%s", err, out)
	}
	// Nothing looks like a finished archive.
	if _, err := archive.Open(dir); err == nil {
		t.Fatal("an interrupted pack opened as a complete archive")
	}

	// The same pack again: it finishes, reusing what was complete.
	var fetched atomic.Int64
	w, err := archive.Create(dir, archive.WithChunkSize(64<<10), archive.WithVolumeSize(300<<10))
	if err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.RecoveredBlobs == 0 {
		t.Fatal("nothing was recovered from the interrupted pack")
	}
	var total int64
	for _, ref := range refs {
		repo, tag, _ := strings.Cut(ref, ":")
		srcRepo := countingRepo{ReadOnlyGraphTarget: mustRepo(t, src.Host, repo), bytes: &fetched}
		if _, err := oras.ExtendedCopy(ctx, srcRepo, tag, w, "example.com/"+ref, oras.ExtendedCopyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep, r, err := archive.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !rep.OK() {
		t.Fatalf("resumed archive: %v", rep.Problems)
	}
	r.Format().Blobs(func(b formatBlob) bool { total += b.Size; return true })
	if fetched.Load() >= total {
		t.Fatalf("fetched %d bytes again of %d: nothing was reused", fetched.Load(), total)
	}
	t.Logf("recovered %d blobs (%d bytes); fetched %d of %d bytes", st.RecoveredBlobs, st.RecoveredBytes, fetched.Load(), total)
	// No temporaries are left.
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	for _, l := range left {
		if !strings.HasSuffix(l, ".enclave.lock") {
			t.Fatalf("temporary file left: %s", l)
		}
	}
	// Every image is there.
	for ref, root := range s.Tags {
		got, err := r.Resolve(ctx, "example.com/"+ref)
		if err != nil || got.Digest != root.Digest {
			t.Fatalf("%s: %v %v", ref, got.Digest, err)
		}
	}
}

// Regression: the empty blob leaves no records, so it is never recovered; a
// recovered manifest that lists it stands for its whole graph (oras skips
// it), so resuming must write the empty blob again or Close finds it
// missing. The first image (team/tool, which has an empty layer) is packed
// completely before the kill.
func TestResumeKeepsEmptyBlobOfRecoveredManifest(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	s, err := archivetest.SampleSet(ctx, repoFunc(t, src.Host), 1, 100<<10)
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{"team/tool:v1", "library/app:v1"}
	dir := filepath.Join(t.TempDir(), "content")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ENCLAVE_CRASH_PACK="+dir, "ENCLAVE_CRASH_HOST="+src.Host,
		"ENCLAVE_CRASH_REFS="+strings.Join(refs, ","), "ENCLAVE_CRASH_AFTER=-1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the packer was not killed: %v\n%s", err, out)
	}
	w, err := archive.Create(dir, archive.WithChunkSize(64<<10), archive.WithVolumeSize(300<<10))
	if err != nil {
		t.Fatal(err)
	}
	if w.Stats().RecoveredBlobs == 0 {
		t.Fatal("nothing recovered")
	}
	for _, ref := range refs {
		repo, tag, _ := strings.Cut(ref, ":")
		if _, err := oras.ExtendedCopy(ctx, mustRepo(t, src.Host, repo), tag, w, "example.com/"+ref, oras.ExtendedCopyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close after resume: %v", err)
	}
	rep, r, err := archive.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !rep.OK() {
		t.Fatal(rep.Problems)
	}
	for ref, root := range s.Tags {
		if got, err := r.Resolve(ctx, "example.com/"+ref); err != nil || got.Digest != root.Digest {
			t.Fatalf("%s: %v %v", ref, got.Digest, err)
		}
	}
}
