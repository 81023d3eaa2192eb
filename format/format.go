package format

import (
	"crypto/sha256"
	_ "crypto/sha512" // register sha512 for go-digest
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"

	"github.com/cespare/xxhash/v2"
	"github.com/opencontainers/go-digest"
)

// Version is the format version this package writes and reads.
const Version = 1

// FrameMagic is the zstd skippable-frame magic number that every metadata
// frame uses (RFC 8878 section 3.1.2 reserves 0x184D2A50..0x184D2A5F). Using a
// skippable frame keeps a volume a valid zstd stream: `zstd -t` tests it.
const FrameMagic uint32 = 0x184D2A5E

// zstdMagic begins an ordinary zstd frame.
const zstdMagic uint32 = 0xFD2FB528

// Record tags: the first four bytes of every metadata frame payload.
const (
	TagVolumeHeader = "EVHD"
	TagChunk        = "ECHK"
	TagManifest     = "EMAN"
	TagIndex        = "EIDX"
	TagFooter       = "EFTR"
)

// EndMagic is the last 8 bytes of every volume. The 0x89 and CR LF catch
// transfers that mangle bytes or line ends (as PNG's signature does).
var EndMagic = [8]byte{0x89, 'E', 'N', 'C', 'L', 'V', '\r', '\n'}

// Fixed sizes of v1 structures, in bytes.
const (
	frameHeaderSize  = 8                       // magic + length
	frameOverhead    = frameHeaderSize + 4 + 8 // + tag + xxh64 check
	FooterSize       = 160                     // whole footer frame
	footerVersion    = 1
	volumeHeaderBody = 48
	chunkHeaderFixed = 40 // chunk header body before the digest bytes
	indexHeaderSize  = 104
	volumeEntrySize  = 48
	chunkEntrySize   = 32
	sectionHeadSize  = 16
	blobEntryFixed   = 24 // blob entry after the digest bytes
)

// Limits of the format. A reader refuses anything beyond them before it
// allocates; ReaderOptions may lower (never raise) the ones marked so.
const (
	// MaxChunkSize bounds a chunk's uncompressed size. 16 MiB keeps a
	// decoder's window and a reader's buffers small whatever the input says.
	MaxChunkSize = 16 << 20
	// DefaultChunkSize is what writers use unless told otherwise: large
	// enough that per-chunk overhead (about 200 bytes) is 0.005%, small
	// enough that concurrency x chunk size stays a few tens of MiB.
	DefaultChunkSize = 4 << 20
	// MinChunkSize keeps the index from exploding for large blobs.
	MinChunkSize = 64 << 10
	// MaxMetadataFrame bounds every metadata frame but the manifest and the
	// index (volume header, chunk header, footer).
	MaxMetadataFrame = 4096
	// MaxIndexSize bounds the index frame (default reader limit): about 5
	// million blobs.
	MaxIndexSize = 512 << 20
	// MaxManifestSize bounds the manifest frame (default reader limit).
	MaxManifestSize = 64 << 20
	// MaxVolumes bounds the number of volumes (default reader limit).
	MaxVolumes = 100000
	// MaxVolumeSize bounds a volume: 2^48 bytes (256 TiB).
	MaxVolumeSize = 1 << 48
)

// MaxStoredSize is the largest stored (compressed) size a chunk of raw bytes
// may have: zstd's worst-case bound plus room for frame headers.
func MaxStoredSize(raw int) int { return raw + raw>>7 + 4096 }

// Digest algorithm identifiers in chunk headers and index sections.
const (
	algSHA256 byte = 1
	algSHA512 byte = 2
)

var digestRE = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)

// ValidateDigest reports whether d is a canonical sha256 or sha512 digest
// (lower-case hex of the exact length). Digests are names of content and may
// end up in paths and URLs: anything else is refused. (go-digest's own
// methods panic on some malformed strings, so nothing else may look at an
// unvalidated digest.)
func ValidateDigest(d digest.Digest) error {
	if !digestRE.MatchString(string(d)) {
		return fmt.Errorf("%w: %q", ErrInvalidDigest, truncate(string(d), 80))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func algOf(d digest.Digest) (byte, int) {
	switch d.Algorithm() {
	case digest.SHA256:
		return algSHA256, 32
	case digest.SHA512:
		return algSHA512, 64
	}
	return 0, 0
}

func algInfo(id byte) (digest.Algorithm, int, bool) {
	switch id {
	case algSHA256:
		return digest.SHA256, 32, true
	case algSHA512:
		return digest.SHA512, 64, true
	}
	return "", 0, false
}

// digestBytes returns the raw bytes of a validated digest.
func digestBytes(d digest.Digest) []byte {
	hex := d.Encoded()
	b := make([]byte, len(hex)/2)
	for i := range b {
		b[i] = unhex(hex[2*i])<<4 | unhex(hex[2*i+1])
	}
	return b
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// digestFromBytes formats raw digest bytes (go-digest's NewDigestFromBytes
// goes through fmt, which dominates opening a large index).
func digestFromBytes(alg digest.Algorithm, b []byte) digest.Digest {
	buf := make([]byte, 0, len(alg)+1+2*len(b))
	buf = append(buf, alg...)
	buf = append(buf, ':')
	buf = hex.AppendEncode(buf, b)
	return digest.Digest(buf)
}

var le = binary.LittleEndian

// appendFrame appends a metadata frame (skippable frame: magic, length, tag,
// body, XXH64 of tag+body) to dst.
func appendFrame(dst []byte, tag string, body []byte) []byte {
	start := len(dst)
	dst = le.AppendUint32(dst, FrameMagic)
	dst = le.AppendUint32(dst, uint32(4+len(body)+8))
	dst = append(dst, tag...)
	dst = append(dst, body...)
	sum := xxhash.Sum64(dst[start+frameHeaderSize:])
	return le.AppendUint64(dst, sum)
}

// parseFrame checks a complete metadata frame and returns its tag and body.
func parseFrame(b []byte) (tag string, body []byte, err error) {
	if len(b) < frameOverhead {
		return "", nil, fmt.Errorf("%w: frame of %d bytes is shorter than %d", ErrTruncated, len(b), frameOverhead)
	}
	if m := le.Uint32(b); m != FrameMagic {
		return "", nil, fmt.Errorf("%w: frame magic %#08x, want %#08x", ErrMalformed, m, FrameMagic)
	}
	n := le.Uint32(b[4:])
	if int64(n) != int64(len(b)-frameHeaderSize) {
		return "", nil, fmt.Errorf("%w: frame length %d does not match %d bytes present", ErrMalformed, n, len(b)-frameHeaderSize)
	}
	payload := b[frameHeaderSize : len(b)-8]
	if got, want := xxhash.Sum64(payload), le.Uint64(b[len(b)-8:]); got != want {
		return "", nil, fmt.Errorf("%w: metadata frame XXH64 %016x, recorded %016x", ErrChecksum, got, want)
	}
	return string(payload[:4]), payload[4:], nil
}

// Sum256 is the hash used for the archive digest, manifest and volume digests.
func sum256(b []byte) [32]byte { return sha256.Sum256(b) }

func xxhashSum(b []byte) uint64 { return xxhash.Sum64(b) }
