//go:build linux

package e2e

// A volume the kernel cannot read: a FUSE file system serves a directory of
// real archive files and answers EIO to reads of one byte range of one
// volume. Open and stat succeed and so do the header and footer reads, so
// only reading the middle of the file fails, as it does on a failing disk or
// a scratched medium.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// eioFault says which reads fail: those of file name that touch a byte in
// [from, to).
type eioFault struct {
	name     string
	from, to int64
	hits     atomic.Int64 // reads answered with EIO
}

// eioRoot is the read-only root directory: a loopback of a real directory
// whose files are eioFiles.
type eioRoot struct {
	fs.LoopbackNode
	fault *eioFault
}

var _ fs.NodeWrapChilder = (*eioRoot)(nil)

func (r *eioRoot) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &eioFile{LoopbackNode: ops.(*fs.LoopbackNode), fault: r.fault}
}

// eioFile is a file of the root. It is opened for direct I/O, so that every
// read reaches Read below (no page cache, no read-ahead hiding the error).
type eioFile struct {
	*fs.LoopbackNode
	fault *eioFault
}

var (
	_ fs.NodeOpener = (*eioFile)(nil)
	_ fs.NodeReader = (*eioFile)(nil)
)

func (f *eioFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	fh, ff, errno := f.LoopbackNode.Open(ctx, flags)
	return fh, ff | fuse.FOPEN_DIRECT_IO, errno
}

func (f *eioFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if name, _ := f.Parent(); name == f.fault.name && off < f.fault.to && off+int64(len(dest)) > f.fault.from {
		f.fault.hits.Add(1)
		return nil, syscall.EIO
	}
	return fh.(fs.FileReader).Read(ctx, dest, off)
}

// mountEIO serves dir read-only at a new mount point and returns it. The
// file system is unmounted when the test ends, failed or not. The test is
// skipped where FUSE cannot be mounted (not root, no /dev/fuse, a sandbox
// refusing mount(2)).
func mountEIO(t *testing.T, dir string, fault *eioFault) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a FUSE file system without fusermount needs root")
	}
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		t.Skipf("no usable /dev/fuse, cannot simulate a kernel EIO: %v", err)
	} else {
		f.Close()
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	root := &eioRoot{fault: fault}
	root.RootData = &fs.LoopbackRoot{Path: dir, Dev: uint64(st.Dev), RootNode: root}
	mnt := t.TempDir() // removed after the unmount below (cleanups run last-in first-out)
	srv, err := fs.Mount(mnt, root, &fs.Options{MountOptions: fuse.MountOptions{
		DirectMountStrict: true, // mount(2) itself: no fusermount binary needed
		FsName:            "enclave-eio",
		Name:              "enclave-eio",
	}})
	if err != nil {
		t.Skipf("cannot mount a FUSE file system here, cannot simulate a kernel EIO: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			// Files still open (a failed run): abort the connection and
			// detach, so no mount is left behind either way.
			t.Logf("unmount %s: %v; forcing", mnt, err)
			if err := syscall.Unmount(mnt, syscall.MNT_FORCE|syscall.MNT_DETACH); err != nil {
				t.Errorf("forced unmount of %s: %v", mnt, err)
			}
		}
	})
	return mnt
}

// badChunk picks the blob only the team/tool image holds (its big last
// layer) and a chunk of it, and returns the blob, the volume's file name
// and the byte range to fail.
func badChunk(t *testing.T, f *fixture) (digest.Digest, string, int64, int64) {
	t.Helper()
	r, err := archive.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	root, ok := f.s.Tags["team/tool:v1"]
	if !ok {
		t.Fatalf("no team/tool:v1 in the sample: %v", f.s.Tags)
	}
	b, err := content.FetchAll(context.Background(), r, root)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	big := m.Layers[len(m.Layers)-1]
	blob, ok := r.Format().Lookup(big.Digest)
	if !ok {
		t.Fatalf("%s is not in the archive", big.Digest)
	}
	chunks := r.Format().Chunks(blob)
	if len(chunks) < 3 {
		t.Fatalf("%s has %d chunks, want 3 or more", big.Digest, len(chunks))
	}
	// The chunk that starts deepest into its volume, past the first; the
	// second half of it fails, so the volume header and the start of the
	// chunk still read.
	c := chunks[1]
	for _, x := range chunks[1:] {
		if x.Offset > c.Offset {
			c = x
		}
	}
	return big.Digest, archive.VolumeName(c.Volume), c.Offset + int64(c.StoredSize)/2, c.Offset + int64(c.StoredSize)
}

// checkNotAt asserts the destination has neither the blob nor a manifest
// for ref under mirror/.
func checkNotAt(t *testing.T, dst *regserver.Registry, ref string, blob digest.Digest) {
	t.Helper()
	ctx := context.Background()
	name, tag, _ := strings.Cut(ref, ":")
	d := repo(t, dst.Host, "mirror/"+name)
	if desc, err := d.Resolve(ctx, tag); err == nil {
		t.Errorf("%s was pushed (%s) although one of its blobs could not be read", ref, desc.Digest)
	}
	for _, r := range []string{"mirror/" + name, "mirror/library/app"} {
		ok, err := repo(t, dst.Host, r).Blobs().Exists(ctx, ocispec.Descriptor{Digest: blob})
		if err != nil {
			t.Fatalf("exists %s in %s: %v", blob, r, err)
		}
		if ok {
			t.Errorf("blob %s is at the destination in %s although it could not be read", blob, r)
		}
	}
}

// TestReliabilityVolumeReadError: group D, "Read error on a volume": the
// kernel answers EIO in the middle of a volume, after open and stat
// succeeded. Verify and unpack fail with exit 5 (local I/O, not a damaged
// archive: the same files may read fine from another drive), naming the
// file; unpack --verify-first writes nothing; the default single pass
// (and --skip-verify, its old name) fails the image needing the unreadable
// blob, names the file and the blob, commits nothing of that blob, and
// pushes the other images.
func TestReliabilityVolumeReadError(t *testing.T) {
	f := packFixture(t, 1)
	blob, vol, from, to := badChunk(t, f)
	fault := &eioFault{name: vol, from: from, to: to}
	mnt := mountEIO(t, f.dir, fault)
	path := filepath.Join(mnt, vol)
	t.Logf("EIO for reads of %s in [%d, %d) (a chunk of %s)", path, from, to, blob)

	// The fault is real: the size is right, the header reads, the middle
	// does not, with the kernel's EIO.
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.Stat(filepath.Join(f.dir, vol)); info.Size() != want.Size() {
		t.Fatalf("%s is %d bytes through FUSE, %d on disk", path, info.Size(), want.Size())
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.ReadAt(make([]byte, 64), 0); err != nil {
		t.Fatalf("head of %s: %v", path, err)
	}
	if _, err := fh.ReadAt(make([]byte, format.FooterSize), info.Size()-format.FooterSize); err != nil {
		t.Fatalf("footer of %s: %v", path, err)
	}
	if _, err := fh.ReadAt(make([]byte, 16), from); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of %s at %d: %v, want EIO", path, from, err)
	}
	fh.Close()
	fault.hits.Store(0)

	t.Run("verify", func(t *testing.T) {
		start := time.Now()
		r := unpack(t, "verify", "file://"+mnt)
		t.Logf("exit %d in %v", r.code, time.Since(start))
		mustCode(t, r, mirror.ExitLocalIO)
		mustSay(t, r, path, "input/output error")
		if fault.hits.Load() == 0 {
			t.Fatal("no read reached the faulty range")
		}
	})

	t.Run("unpack --verify-first writes nothing", func(t *testing.T) {
		fault.hits.Store(0)
		var w writeCounter
		dst := regserver.New(t, regserver.Options{Wrap: w.wrap})
		start := time.Now()
		r := unpack(t, unpackArgs(t, mnt, dst.Host, "--verify-first")...)
		t.Logf("exit %d in %v", r.code, time.Since(start))
		mustCode(t, r, mirror.ExitLocalIO)
		mustSay(t, r, path, "input/output error")
		if n := w.n.Load(); n != 0 {
			t.Fatalf("%d write requests reached the destination", n)
		}
		if fault.hits.Load() == 0 {
			t.Fatal("no read reached the faulty range")
		}
	})

	t.Run("single pass fails the image that needs the blob and commits none of it", func(t *testing.T) {
		fault.hits.Store(0)
		dst := regserver.New(t, regserver.Options{})
		start := time.Now()
		r := unpack(t, unpackArgs(t, mnt, dst.Host)...)
		t.Logf("exit %d in %v", r.code, time.Since(start))
		// library/app does not need the blob and is pushed: some images
		// failed (1), not all.
		mustCode(t, r, mirror.ExitFailure)
		mustSay(t, r, path, "input/output error", "team/tool", blob.String())
		if fault.hits.Load() == 0 {
			t.Fatal("no read reached the faulty range")
		}
		checkNotAt(t, dst, "team/tool:v1", blob)
		app := f.s.Tags["library/app:v1"]
		got, err := repo(t, dst.Host, "mirror/library/app").Resolve(context.Background(), "v1")
		if err != nil || got.Digest != app.Digest {
			t.Fatalf("library/app:v1 at the destination: %v %v, want %s", got.Digest, err, app.Digest)
		}
	})

	t.Run("single pass (--skip-verify), only the image that needs the blob: exit 5", func(t *testing.T) {
		dst := regserver.New(t, regserver.Options{})
		cfg := filepath.Join(t.TempDir(), "isc.yaml")
		isc := fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: %s/team/tool:v1\n", f.src.Host)
		if err := os.WriteFile(cfg, []byte(isc), 0o644); err != nil {
			t.Fatal(err)
		}
		r := unpack(t, unpackArgs(t, mnt, dst.Host, "--skip-verify", "-c", cfg)...)
		mustCode(t, r, mirror.ExitLocalIO)
		mustSay(t, r, path, "input/output error", blob.String())
		checkNotAt(t, dst, "team/tool:v1", blob)
	})
}
