package format

import (
	"bytes"
	"testing"
)

// Vectors for the decisions of issue 19 (spec fidelity): what an independent
// reader built from FORMAT.md alone once had to guess, and where such a
// reader and the reference disagreed. Each holds one fault (or one
// permitted oddity) in an archive that is otherwise valid.

func specVectors(t testing.TB, add func(name, desc string, vols [][]byte), bad func(name, desc, class, stage string, vols [][]byte), single []byte, multi [][]byte) {
	// editJSON changes the stored manifest text, which must contain old.
	editJSON := func(old, new string) []byte {
		return reseal(t, single, nil, func(b []byte) []byte {
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("manifest %s has no %s", b, old)
			}
			return bytes.Replace(b, []byte(old), []byte(new), 1)
		})
	}
	add("valid-lineage-empty", `a manifest with "lineage":"", which reads as no lineage (7.2)`,
		[][]byte{editJSON(`"sequence":1`, `"lineage":"","sequence":1`)})
	bad("invalid-manifest-duplicate-member", `a manifest with "sequence":7,"sequence":1: parsers that keep the first and those that keep the last read different archives (7.1)`,
		"ErrMalformed", "open", [][]byte{editJSON(`"sequence":1`, `"sequence":7,"sequence":1`)})
	bad("invalid-manifest-member-case", `a manifest spelling "sequence" as "Sequence", which a case-insensitive parser would read (7.1)`,
		"ErrMalformed", "open", [][]byte{editJSON(`"sequence":1`, `"Sequence":1`)})
	bad("invalid-manifest-invalid-utf8", `a manifest with the byte 0xFF inside an annotation value (7.1)`,
		"ErrMalformed", "open", [][]byte{editJSON(`"sequence":1`, "\"sequence\":1,\"annotations\":{\"note\":\"\xff\"}")})
	bad("invalid-manifest-lone-surrogate", `a manifest whose annotation value is the escape \ud800, a surrogate without its other half (7.1)`,
		"ErrMalformed", "open", [][]byte{editJSON(`"sequence":1`, `"sequence":1,"annotations":{"note":"\ud800"}`)})
	bad("invalid-created-garbage", `a manifest whose "created" is "last tuesday", not an RFC 3339 date-time (7.2)`,
		"ErrMalformed", "open", [][]byte{editJSON(`"2026-11-01T00:00:00Z"`, `"last tuesday"`)})

	// A chunk frame whose zstd content checksum is wrong while the stored
	// XXH64 (header and index) matches the stored bytes: zstd -t refuses
	// the volume, so every reader must (4.2).
	base := build(t, WriterOptions{ChunkSize: 64 << 10}, [][]byte{vecChunk4K()}, nil, nil)[0]
	frame := firstChunkFrame(t, base)
	frame[len(frame)-1] ^= 0x80
	bad("invalid-zstd-bad-content-checksum", "a chunk frame whose zstd content checksum is wrong; its stored XXH64, header and index entry match the stored bytes (4.2)",
		"ErrMalformed", "verify", [][]byte{replaceChunk(t, base, frame)})

	// Stored bytes that match their XXH64 but are no zstd frame: the
	// XXH64 is checked first (damage is reported as damage), then the
	// magic (11.3 step 5, 4.2 step 2).
	notZstd := firstChunkFrame(t, base)
	notZstd[0] ^= 0x01
	bad("invalid-chunk-not-zstd", "a chunk whose stored bytes, with a matching XXH64 in its header and index entry, do not start with the zstd frame magic (11.3)",
		"ErrMalformed", "verify", [][]byte{replaceChunk(t, base, notZstd)})

	// A metadata frame of a tag v1 does not define, where a scan reads
	// whatever frame comes next (after the last chunk record, before the
	// manifest; counted in the metadata hash): Unsupported, not Malformed
	// (2.2, 11.3 step 5). Open reads nothing there and accepts the volume.
	bad("invalid-unknown-tag", `a metadata frame with the tag "EXYZ" (its XXH64 right, in the metadata hash) between the last chunk record and the manifest (11.3 step 5)`,
		"ErrUnsupported", "verify", [][]byte{resealHead(t, single, func(head []byte) []byte {
			return appendFrame(head, "EXYZ", []byte("a record type v1 does not know"))
		}, nil, nil)})

	// Files numbered above the real final volume: the highest-numbered file
	// is the one opened, and its footer decides (8.2).
	garbage := vecBytes(7, 4096, false)
	bad("invalid-garbage-above-final", "a 4096-byte file of random bytes numbered above the final volume (8.2 step 2)",
		"ErrMalformed", "open", append(append([][]byte(nil), multi...), garbage))
	bad("invalid-empty-above-final", "an empty file numbered above the final volume (8.2 step 2)",
		"ErrTruncated", "open", append(append([][]byte(nil), multi...), []byte{}))
}
