package format_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// Run with: go test ./format -run '^$' -bench . -cpu 1
// Targets (issue 2, one core): write incompressible 4 MiB chunks >= 800 MB/s
// including SHA-256; read and verify >= 1 GB/s; tar data to <= 0.45 of its
// size at >= 100 MB/s; open a 100,000-blob archive and find a digest < 50 ms.

type discardSink struct{ n int64 }

type discardVol struct{ s *discardSink }

func (s *discardSink) CreateVolume(uint32) (io.WriteCloser, error) { return discardVol{s}, nil }
func (v discardVol) Write(p []byte) (int, error)                   { v.s.n += int64(len(p)); return len(p), nil }
func (v discardVol) Close() error                                  { return nil }

func benchWrite(b *testing.B, data []byte, level int) {
	d := digest.FromBytes(data)
	b.SetBytes(int64(len(data)))
	var stored, raw int64
	for i := 0; b.Loop(); i++ {
		s := &discardSink{}
		w, err := format.NewWriter(s, format.WriterOptions{Archive: format.ArchiveID{1}, Compression: level})
		if err != nil {
			b.Fatal(err)
		}
		bw, err := w.Blob(d, int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		bw.Write(data)
		if err := bw.Commit(); err != nil {
			b.Fatal(err)
		}
		raw, stored = w.Stats()
	}
	b.ReportMetric(float64(stored)/float64(raw), "ratio")
}

// BenchmarkWriteIncompressible: gzip layers are incompressible to zstd.
func BenchmarkWriteIncompressible(b *testing.B) {
	benchWrite(b, randomBytes(11, 64<<20), format.CompressionDefault)
}

// BenchmarkWriteTar: uncompressed tar layers of real files (the Go tree).
func BenchmarkWriteTar(b *testing.B) {
	for _, lvl := range []struct {
		name  string
		level int
	}{{"fastest", format.CompressionFastest}, {"default", format.CompressionDefault}, {"better", format.CompressionBetter}} {
		b.Run(lvl.name, func(b *testing.B) { benchWrite(b, realTar(b, 64<<20), lvl.level) })
	}
}

func BenchmarkReadVerify(b *testing.B) {
	data := randomBytes(12, 64<<20)
	vs := writeArchive(b, []blob{newBlob(data)}, writeOpts{}, false)
	a := openArchive(b, vs)
	bl, _ := a.Lookup(digest.FromBytes(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := a.OpenBlob(bl, vs)
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen100k(b *testing.B) {
	const n = 100_000
	blobs := make([]blob, n)
	for i := range blobs {
		blobs[i] = newBlob([]byte(fmt.Sprintf("blob %d", i)))
	}
	vs := writeArchive(b, blobs, writeOpts{}, false)
	target := blobs[n/3].d
	b.ReportMetric(float64(len(vs[len(vs)-1])), "final-volume-bytes")
	for b.Loop() {
		r, size := vs.final()
		a, err := format.Open(r, size, format.ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := a.Lookup(target); !ok {
			b.Fatal("not found")
		}
	}
}

var tarCache []byte

// realTar is a tar of real files from the Go installation (source, binaries,
// test data), about size bytes: what an uncompressed layer looks like.
func realTar(b *testing.B, size int) []byte {
	if tarCache != nil {
		return tarCache
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	root := build.Default.GOROOT
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || buf.Len() >= size {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 8<<20 {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		hdr, _ := tar.FileInfoHeader(info, "")
		hdr.Name, _ = filepath.Rel(root, p)
		tw.WriteHeader(hdr)
		tw.Write(data)
		return nil
	})
	tw.Close()
	if buf.Len() < size/2 {
		b.Skipf("only %d bytes of files under GOROOT", buf.Len())
	}
	tarCache = buf.Bytes()
	return tarCache
}

// BenchmarkVerify: the read-everything pass unpack runs before writing
// (blobs hash in parallel; compare -cpu 1 and -cpu 2).
func BenchmarkVerify(b *testing.B) {
	var blobs []blob
	var total int64
	for i := range 8 {
		data := randomBytes(uint64(20+i), 16<<20)
		blobs = append(blobs, newBlob(data))
		total += int64(len(data))
	}
	vs := writeArchive(b, blobs, writeOpts{WriterOptions: format.WriterOptions{VolumeSize: 48 << 20}}, true)
	a := openArchive(b, vs)
	b.SetBytes(total)
	for b.Loop() {
		if rep := a.Verify(vs.opener()); !rep.OK() || rep.Blobs != len(blobs) {
			b.Fatalf("verify: %v", rep.Problems)
		}
	}
}

// BenchmarkDecodeChunk: one 4 MiB chunk through every check of spec 4.2,
// the content checksum included (issue 19), for incompressible data (raw
// blocks) and for text.
func BenchmarkDecodeChunk(b *testing.B) {
	for _, in := range []struct {
		name string
		data []byte
	}{{"incompressible", randomBytes(51, 4<<20)}, {"text", textBytes(52, 4<<20)}} {
		b.Run(in.name, func(b *testing.B) {
			vs := writeArchive(b, []blob{newBlob(in.data)}, writeOpts{}, false)
			a := openArchive(b, vs)
			bl, _ := a.Lookup(digest.FromBytes(in.data))
			c := a.Chunks(bl)[0]
			stored := vs[c.Volume-1][c.Offset : c.Offset+int64(c.StoredSize)]
			dst := make([]byte, 0, c.RawSize)
			b.SetBytes(int64(c.RawSize))
			for b.Loop() {
				if _, err := format.DecodeChunk(c, stored, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
