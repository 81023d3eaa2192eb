package format_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// memSink keeps volumes in memory.
type memSink struct {
	mu   sync.Mutex
	vols [][]byte
}

type memVol struct {
	s *memSink
	n uint32
	b bytes.Buffer
}

func (s *memSink) CreateVolume(n uint32) (io.WriteCloser, error) {
	if int(n) != len(s.vols)+1 {
		return nil, fmt.Errorf("volume %d requested after %d", n, len(s.vols))
	}
	return &memVol{s: s, n: n}, nil
}

func (v *memVol) Write(p []byte) (int, error) { return v.b.Write(p) }
func (v *memVol) Close() error {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	v.s.vols = append(v.s.vols, v.b.Bytes())
	return nil
}

// volumes serves in-memory volumes to readers.
type volumes [][]byte

func (vs volumes) Volume(n uint32) (io.ReaderAt, error) {
	if n == 0 || int(n) > len(vs) {
		return nil, fmt.Errorf("no volume %d", n)
	}
	return bytes.NewReader(vs[n-1]), nil
}

func (vs volumes) opener() format.VolumeOpener {
	return func(n uint32) (io.ReadCloser, int64, error) {
		if n == 0 || int(n) > len(vs) {
			return nil, 0, fmt.Errorf("volume %d is missing", n)
		}
		return io.NopCloser(bytes.NewReader(vs[n-1])), int64(len(vs[n-1])), nil
	}
}

func (vs volumes) final() (io.ReaderAt, int64) {
	last := vs[len(vs)-1]
	return bytes.NewReader(last), int64(len(last))
}

func (vs volumes) clone() volumes {
	out := make(volumes, len(vs))
	for i, v := range vs {
		out[i] = append([]byte(nil), v...)
	}
	return out
}

type blob struct {
	data []byte
	d    digest.Digest
}

func newBlob(data []byte) blob { return blob{data: data, d: digest.FromBytes(data)} }

// randomBytes is incompressible; textBytes compresses like real files.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

var words = []string{"func", "return", "error", "package", "import", "if", "err", "!=", "nil", "{", "}", "(", ")", "config", "value", "string", "int", "for", "range", "\n", "\t", "the", "image", "layer", "registry", "=", ":=", "0", "1", "/usr/lib/", ".so", "#include"}

func textBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

type writeOpts struct {
	format.WriterOptions
	manifest *format.Manifest
}

// writeArchive writes blobs (concurrently when parallel) and returns the volumes.
func writeArchive(t testing.TB, blobs []blob, o writeOpts, parallel bool) volumes {
	t.Helper()
	if o.Archive == (format.ArchiveID{}) {
		o.Archive = format.ArchiveID{1, 2, 3, 4}
	}
	s := &memSink{}
	w, err := format.NewWriter(s, o.WriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	put := func(b blob) error {
		bw, err := w.Blob(b.d, int64(len(b.data)))
		if err != nil {
			return err
		}
		// Write in odd-sized pieces to cross chunk boundaries.
		for p := b.data; len(p) > 0; {
			k := min(len(p), 100_003)
			if _, err := bw.Write(p[:k]); err != nil {
				return err
			}
			p = p[k:]
		}
		return bw.Commit()
	}
	if parallel {
		var wg sync.WaitGroup
		errs := make(chan error, len(blobs))
		for _, b := range blobs {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- put(b) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	} else {
		for _, b := range blobs {
			if err := put(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := o.manifest
	if m == nil {
		m = &format.Manifest{}
	}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	return volumes(s.vols)
}

func openArchive(t testing.TB, vs volumes) *format.Archive {
	t.Helper()
	r, size := vs.final()
	a, err := format.Open(r, size, format.ReaderOptions{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return a
}

func readBlob(a *format.Archive, vs volumes, d digest.Digest) ([]byte, error) {
	b, ok := a.Lookup(d)
	if !ok {
		return nil, fmt.Errorf("blob %s not found", d)
	}
	r := a.OpenBlob(b, vs)
	defer r.Close()
	return io.ReadAll(r)
}
