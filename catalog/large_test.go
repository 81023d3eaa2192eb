package catalog

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/enclave-mirror/enclave/imageset"
)

// TestLargeCatalog measures what the performance target is about:
// a catalog image with about 1 GiB of FBC (thousands of bundles, each with
// olm.bundle.object payloads of a few hundred KB) loaded, filtered (heads
// of every channel) and rebuilt, with the time of each step and the
// process's peak RSS. It runs only when asked:
//
//	ENCLAVE_LARGE_CATALOG=1 go test ./catalog -run TestLargeCatalog -v -timeout 30m
//
// ENCLAVE_LARGE_CATALOG_MB sets the FBC size (default 1024). The generated
// image is kept in the OS temp dir for later runs.
func TestLargeCatalog(t *testing.T) {
	if os.Getenv("ENCLAVE_LARGE_CATALOG") == "" {
		t.Skip("set ENCLAVE_LARGE_CATALOG=1 to run (generates ~1 GiB of FBC)")
	}
	mb := 1024
	if v := os.Getenv("ENCLAVE_LARGE_CATALOG_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("enclave-large-catalog-%dmb-v1", mb))
	start := time.Now()
	store, desc, fbcBytes, bundles := largeCatalog(t, dir, int64(mb)<<20)
	t.Logf("catalog image: %d MiB of FBC, %d bundles (generated or reused in %v)", fbcBytes>>20, bundles, time.Since(start).Round(time.Millisecond))

	resetPeakRSS(t)
	base := peakRSS(t)
	start = time.Now()
	c, err := Load(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(start)
	s, err := Filter(c, imagesetOperator())
	if err != nil {
		t.Fatal(err)
	}
	filtered := time.Since(start)
	out := filepath.Join(t.TempDir(), "out")
	dst := &fileStore{dir: out}
	os.MkdirAll(out, 0o755)
	rebuilt, err := s.Rebuild(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	peak := peakRSS(t)
	t.Logf("load %v, load+filter %v, load+filter+rebuild %v; %d packages, %d bundles selected, %d images; rebuilt %s",
		loaded.Round(time.Millisecond), filtered.Round(time.Millisecond), total.Round(time.Millisecond), len(s.Packages), countBundles(s), len(s.Images()), rebuilt.Digest)
	t.Logf("peak RSS %d MiB (process before load: %d MiB)", peak>>20, base>>20)
	if peak > 256<<20 {
		t.Errorf("peak RSS %d MiB over the 256 MiB target", peak>>20)
	}
	if filtered > 30*time.Second {
		t.Errorf("load+filter took %v, over the 30 s target", filtered)
	}
}

func countBundles(s *Selection) int {
	n := 0
	for _, p := range s.Packages {
		n += len(p.Bundles)
	}
	return n
}

func imagesetOperator() (op imageset.Operator) { return op }

// peakRSS is VmHWM of this process.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM (Linux >= 4.0), so that generating the image
// does not count.
func resetPeakRSS(t *testing.T) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset peak RSS (%v): the figure includes generation", err)
	}
}

// fileStore is a content store of files named by digest: the large
// catalog's blobs stay on disk, out of the measured memory.
type fileStore struct{ dir string }

func (f *fileStore) path(d digest.Digest) string { return filepath.Join(f.dir, d.Encoded()) }

func (f *fileStore) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	r, err := os.Open(f.path(d.Digest))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	return r, err
}

func (f *fileStore) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	_, err := os.Stat(f.path(d.Digest))
	return err == nil, nil
}

func (f *fileStore) Push(_ context.Context, d ocispec.Descriptor, r io.Reader) error {
	w, err := os.Create(f.path(d.Digest) + ".tmp")
	if err != nil {
		return err
	}
	vr := content.NewVerifyReader(r, d)
	if _, err := io.Copy(w, vr); err != nil {
		w.Close()
		return err
	}
	if err := vr.Verify(); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.Rename(f.path(d.Digest)+".tmp", f.path(d.Digest))
}

// largeCatalog generates (or reuses) the image: packages of 30 bundles in
// one channel (replaces chain, every 3rd entry skipping the previous one,
// a skipRange on each), each bundle with 5 related images and one
// olm.bundle.object of ~330 KB, streamed to a gzip layer on disk.
func largeCatalog(t *testing.T, dir string, size int64) (*fileStore, ocispec.Descriptor, int64, int) {
	t.Helper()
	store := &fileStore{dir: dir}
	descFile := filepath.Join(dir, "index.json")
	if b, err := os.ReadFile(descFile); err == nil {
		var meta struct {
			Desc    ocispec.Descriptor
			Bytes   int64
			Bundles int
		}
		if json.Unmarshal(b, &meta) == nil {
			return store, meta.Desc, meta.Bytes, meta.Bundles
		}
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.Create(filepath.Join(dir, "layer.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	gzSum, tarSum := sha256.New(), sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, gzSum), 1<<20)
	gz, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	tw := tar.NewWriter(io.MultiWriter(gz, tarSum))
	rng := rand.New(rand.NewPCG(1, 2))
	const perPackage = 30
	payload := func() string {
		// CSV-like JSON text, partly random, base64 encoded: compresses
		// about as real bundle objects do.
		var b strings.Builder
		for b.Len() < 240<<10 {
			fmt.Fprintf(&b, `{"name":"field-%d","description":"%x","value":%d},`, rng.IntN(1000), rng.Uint64(), rng.IntN(1<<30))
		}
		return base64.StdEncoding.EncodeToString([]byte(b.String()))
	}
	var total int64
	bundles := 0
	for p := 0; total < size; p++ {
		pkg := fmt.Sprintf("operator-%04d", p)
		var doc bytes.Buffer
		fmt.Fprintf(&doc, `{"schema":"olm.package","name":%q,"defaultChannel":"stable"}`+"\n", pkg)
		var entries []string
		for i := range perPackage {
			e := fmt.Sprintf(`{"name":"%s.v1.%d.0","skipRange":">=1.0.0 <1.%d.0"`, pkg, i, i)
			if i > 0 {
				e += fmt.Sprintf(`,"replaces":"%s.v1.%d.0"`, pkg, i-1)
			}
			if i > 1 && i%3 == 0 {
				e += fmt.Sprintf(`,"skips":["%s.v1.%d.0"]`, pkg, i-2)
			}
			entries = append(entries, e+"}")
		}
		fmt.Fprintf(&doc, `{"schema":"olm.channel","package":%q,"name":"stable","entries":[%s]}`+"\n", pkg, strings.Join(entries, ","))
		for i := range perPackage {
			name := fmt.Sprintf("%s.v1.%d.0", pkg, i)
			img := fmt.Sprintf("registry.example/%s/bundle@sha256:%064x", pkg, sha256.Sum256([]byte(name)))
			var rel []string
			rel = append(rel, fmt.Sprintf(`{"name":"","image":%q}`, img))
			for r := range 5 {
				rel = append(rel, fmt.Sprintf(`{"name":"img%d","image":"registry.example/%s/img%d@sha256:%064x"}`, r, pkg, r, sha256.Sum256([]byte(fmt.Sprint(name, r)))))
			}
			fmt.Fprintf(&doc, `{"schema":"olm.bundle","package":%q,"name":%q,"image":%q,"properties":[{"type":"olm.package","value":{"packageName":%q,"version":"1.%d.0"}},{"type":"olm.bundle.object","value":{"data":%q}}],"relatedImages":[%s]}`+"\n",
				pkg, name, img, pkg, i, payload(), strings.Join(rel, ","))
			bundles++
		}
		if err := tw.WriteHeader(&tar.Header{Name: "configs/" + pkg + "/catalog.json", Mode: 0o644, Size: int64(doc.Len()), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(doc.Bytes())
		total += int64(doc.Len())
	}
	tw.Close()
	gz.Close()
	bw.Flush()
	size2, _ := tmp.Seek(0, io.SeekCurrent)
	tmp.Close()
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.NewDigestFromBytes(digest.SHA256, gzSum.Sum(nil)), Size: size2}
	os.Rename(tmp.Name(), store.path(layer.Digest))
	put := func(mt string, v any) ocispec.Descriptor {
		b, _ := json.Marshal(v)
		d := content.NewDescriptorFromBytes(mt, b)
		if err := store.Push(context.Background(), d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := put(ocispec.MediaTypeImageConfig, map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Labels": map[string]string{ConfigsLabel: "/configs"}, "Entrypoint": []string{"/bin/opm"}, "Cmd": []string{"serve", "/configs", "--cache-dir=/tmp/cache"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{digest.NewDigestFromBytes(digest.SHA256, tarSum.Sum(nil))}},
	})
	desc := put(ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	meta, _ := json.Marshal(map[string]any{"Desc": desc, "Bytes": total, "Bundles": bundles})
	os.WriteFile(descFile, meta, 0o644)
	return store, desc, total, bundles
}
