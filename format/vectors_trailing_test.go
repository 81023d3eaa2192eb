package format

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/opencontainers/go-digest"
)

// Vectors for bytes a blob does not account for (trailing bytes inside a
// chunk's stored size, a chunk that decodes to more than its raw size, chunks
// that hold more than the blob, a chunk header that says the blob goes on),
// for a manifest over its byte cap and for a chunk frame declaring a 1 TiB
// window. TestTrailingBytes and TestLimitsBeforeRead check what the reader
// does with them; TestVectors checks class and stage.

// vecChunk4K is the content of the one-chunk archives these vectors start from.
func vecChunk4K() []byte { return vecBytes(6, 4<<10, true) }

func trailingVectors(t testing.TB, bad func(name, desc, class, stage string, vols [][]byte), single, text []byte) {
	opts := WriterOptions{ChunkSize: 64 << 10}
	data := vecChunk4K()
	base := build(t, opts, [][]byte{data}, nil, nil)[0]
	frame := firstChunkFrame(t, base)
	withTail := func(tail []byte) []byte { return append(append([]byte(nil), frame...), tail...) }

	bad("invalid-trailing-bytes", "a chunk whose stored bytes are its zstd frame followed by 9 bytes that belong to no frame (stored size and XXH64 cover them)",
		"ErrMalformed", "verify", [][]byte{replaceChunk(t, base, withTail([]byte("\x00trailing")))})
	// A stock zstd decoder skips a skippable frame: decoding the stored
	// bytes gives exactly the chunk, so only the one-frame rule stops it.
	bad("invalid-trailing-skippable-frame", "a chunk whose stored bytes are its zstd frame followed by a zstd skippable frame of 8 bytes",
		"ErrMalformed", "verify", [][]byte{replaceChunk(t, base, withTail(skippableFrame([]byte("trailing"))))})
	bad("invalid-chunk-overlong", "a 4096-byte chunk whose zstd frame declares 4096 bytes but whose raw blocks hold 4097 (checksum of all 4097)",
		"ErrMalformed", "verify", [][]byte{replaceChunk(t, base, zstdRawFrame(append(append([]byte(nil), data...), '!'), frameDesc{single: true, fcs: 4096}))})
	bad("invalid-blob-shorter-than-chunks", "the index says a 5-chunk blob is one byte shorter than its chunks hold",
		"ErrMalformed", "open", [][]byte{reseal(t, single, func(b []byte) []byte {
			e := blobEntryAt(t, b, digest.FromBytes(text))
			le.PutUint64(b[e+32:], le.Uint64(b[e+32:])-1)
			return b
		}, nil)})
	bad("invalid-trailing-record", "a chunk header says its blob is 5 bytes longer than the index does, and a chunk record of those 5 bytes follows (no index entry uses it)",
		"ErrMalformed", "verify", [][]byte{trailingRecord(t)})
	bad("invalid-manifest-over-cap", "the index declares a manifest frame of 64 MiB + 21 bytes, one byte over the cap, in a 77 KiB file",
		"ErrLimit", "open", [][]byte{reseal(t, single, func(b []byte) []byte {
			le.PutUint64(b[64:], MaxManifestSize+frameOverhead+1)
			return b
		}, nil)})
	bad("invalid-zstd-window-1tb", "a 4096-byte chunk whose zstd frame (not single-segment) declares a 1 TiB window; its content size and raw blocks are right",
		"ErrLimit", "verify", [][]byte{replaceChunk(t, base, zstdRawFrame(data, frameDesc{window: 0xf0, fcs: 4096}))})
}

// firstChunkFrame returns the stored bytes of a volume's first chunk record.
func firstChunkFrame(t testing.TB, vol []byte) []byte {
	hdrOff := frameOverhead + volumeHeaderBody
	n := int(le.Uint32(vol[hdrOff+4:])) + frameHeaderSize
	h, err := parseChunkHeader(vol[hdrOff+12 : hdrOff+n-8])
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), vol[hdrOff+n:hdrOff+n+int(h.StoredSize)]...)
}

// skippableFrame is a zstd skippable frame (magic 0x184D2A50) holding data.
func skippableFrame(data []byte) []byte {
	b := le.AppendUint32(nil, 0x184D2A50)
	b = le.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// frameDesc is what a hand-built zstd frame header declares: single
// segment, or a Window_Descriptor byte; a content size (4-byte field), or
// none when fcs < 0.
type frameDesc struct {
	single bool
	window byte
	fcs    int64
}

// zstdRawFrame builds a zstd frame by hand (RFC 8878 section 3.1.1): the
// header d describes, content in raw blocks of at most min(window, 128 KiB)
// bytes, and the content checksum. It lets a vector declare what no
// encoder would write.
func zstdRawFrame(content []byte, d frameDesc) []byte {
	b := le.AppendUint32(nil, zstdMagic)
	fhd := byte(1 << 2) // Content_Checksum_Flag
	if d.fcs >= 0 {
		fhd |= 2 << 6 // Frame_Content_Size field of 4 bytes
	}
	window := int64(128 << 10)
	if d.single {
		fhd |= 1 << 5
		window = d.fcs
	}
	b = append(b, fhd)
	if !d.single {
		b = append(b, d.window)
		if w := int64(1) << (10 + d.window>>3); w < window {
			window = w + w/8*int64(d.window&7)
		}
	}
	if d.fcs >= 0 {
		b = le.AppendUint32(b, uint32(d.fcs))
	}
	for rest := content; ; {
		n := min(int64(len(rest)), window, 128<<10)
		last := uint32(0)
		if n == int64(len(rest)) {
			last = 1
		}
		bh := uint32(n)<<3 | last // Block_Type 0: Raw_Block
		b = append(b, byte(bh), byte(bh>>8), byte(bh>>16))
		b = append(b, rest[:n]...)
		rest = rest[n:]
		if last == 1 {
			break
		}
	}
	return le.AppendUint32(b, uint32(xxhash.Sum64(content)))
}

// blobEntryAt returns the offset in an index body of the blob entry of d
// (sha256 section).
func blobEntryAt(t testing.TB, body []byte, d digest.Digest) int {
	nv := int(le.Uint32(body[4:]))
	nc := int(le.Uint64(body[40:]))
	sec := indexHeaderSize + nv*volumeEntrySize + nc*chunkEntrySize
	if body[sec] != algSHA256 {
		t.Fatal("first section is not sha256")
	}
	want := digestBytes(d)
	es := 32 + blobEntryFixed
	for i, e := 0, sec+sectionHeadSize; i < int(le.Uint64(body[sec+8:])); i, e = i+1, e+es {
		if string(body[e:e+32]) == string(want) {
			return e
		}
	}
	t.Fatalf("no entry for %s", d)
	return 0
}

// trailingRecord is a one-blob archive ("hello, enclave\n", 15 bytes) whose
// only referenced chunk header says the blob is 20 bytes, followed by a
// chunk record of the blob's "bytes 15..19" that no index entry uses.
func trailingRecord(t testing.TB) []byte {
	small := []byte("hello, enclave\n")
	vol := build(t, WriterOptions{ChunkSize: 64 << 10}, [][]byte{small}, nil, nil)[0]
	return resealHead(t, vol, func(head []byte) []byte {
		hdrOff := frameOverhead + volumeHeaderBody
		n := int(le.Uint32(head[hdrOff+4:])) + frameHeaderSize
		h, err := parseChunkHeader(head[hdrOff+12 : hdrOff+n-8])
		if err != nil {
			t.Fatal(err)
		}
		h.BlobSize += 5
		out := h.appendTo(append([]byte(nil), head[:hdrOff]...))
		if len(out) != hdrOff+n {
			t.Fatal("chunk header changed size")
		}
		out = append(out, head[hdrOff+n:]...)
		more := zstdRawFrame([]byte("MORE\n"), frameDesc{single: true, fcs: 5})
		extra := ChunkHeader{Blob: h.Blob, BlobSize: h.BlobSize, BlobOffset: int64(len(small)), RawSize: 5,
			StoredSize: uint32(len(more)), StoredXXH: xxhash.Sum64(more)}
		out = extra.appendTo(out)
		return append(out, more...)
	}, nil, nil)
}

// TestSpecListsEveryVector: the table of vectors in FORMAT.md section 14
// names every vector in spec/testdata, once, with its class and stage, and
// nothing else.
func TestSpecListsEveryVector(t *testing.T) {
	spec, err := os.ReadFile("../spec/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `((?:valid|invalid)-[a-z0-9-]+)` \\| (–|`(Err[A-Za-z]+)`) \\| (–|open|check|verify) \\| ")
	listed := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(spec), -1) {
		if _, dup := listed[m[1]]; dup {
			t.Errorf("FORMAT.md lists %s twice", m[1])
		}
		listed[m[1]] = m[3] + " " + m[4]
	}
	dirs, err := os.ReadDir(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(vectorDir, d.Name(), "expect.json"))
		if err != nil {
			t.Fatal(err)
		}
		var exp Expect
		if err := json.Unmarshal(raw, &exp); err != nil {
			t.Fatal(err)
		}
		want := " –"
		if !exp.Valid {
			want = exp.Error + " " + exp.Stage
		}
		got, ok := listed[d.Name()]
		switch {
		case !ok:
			t.Errorf("FORMAT.md section 14 does not list %s (%s)", d.Name(), want)
		case got != want:
			t.Errorf("FORMAT.md lists %s as %q, its expect.json says %q", d.Name(), got, want)
		}
		delete(listed, d.Name())
	}
	for n := range listed {
		t.Errorf("FORMAT.md lists %s, which spec/testdata does not hold", n)
	}
}
