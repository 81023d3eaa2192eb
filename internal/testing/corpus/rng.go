package corpus

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// rng is the corpus's only source of randomness: ChaCha8 (the C2SP chacha8rand
// algorithm behind math/rand/v2.ChaCha8) keyed with SHA-256 of the corpus seed
// and a label. Only ChaCha8.Uint64 is used, whose stream is fixed by the
// algorithm; the derived helpers (intn, float, fill) are defined here rather
// than taken from math/rand/v2.Rand, whose derivations the Go project does not
// promise to keep. Keying every layer by its own label means a layer's bytes
// do not depend on how many other layers or images a corpus has.
type rng struct{ c *rand.ChaCha8 }

func newRNG(seed uint64, label ...string) *rng {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	for _, l := range label {
		binary.LittleEndian.PutUint64(b[:], uint64(len(l)))
		h.Write(b[:])
		h.Write([]byte(l))
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	return &rng{rand.NewChaCha8(key)}
}

func (r *rng) u64() uint64 { return r.c.Uint64() }

// intn returns a value in [0, n); n must be positive. The modulo bias is
// below 2^-40 for the n used here and, more to the point, deterministic.
func (r *rng) intn(n int) int { return int(r.u64() % uint64(n)) }

// float returns a value in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

// logUniform returns a size between lo and hi whose logarithm is uniform:
// many small values, a few large ones, like file and layer sizes.
func (r *rng) logUniform(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	return int64(math.Exp(l + r.float()*(h-l)))
}

// fill fills p with random bytes, eight at a time, little-endian.
func (r *rng) fill(p []byte) {
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, r.u64())
		p = p[8:]
	}
	if len(p) > 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], r.u64())
		copy(p, b[:])
	}
}
