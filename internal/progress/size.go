package progress

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// ErrInvalidSize is returned (wrapped, with the input and the reason) by
// ParseBytes.
var ErrInvalidSize = errors.New("progress: invalid size")

// maxSizeInput bounds the text ParseBytes looks at: the longest valid size
// ("9223372036854775807" bytes, or a long fraction with a unit) is far
// shorter, and the bound keeps the exact big-number arithmetic cheap.
const maxSizeInput = 64

// binaryUnits are the IEC unit names HumanBytes prints, smallest first.
var binaryUnits = [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// HumanBytes formats n bytes with IEC binary units and at most one decimal,
// dropping a ".0": "0 B", "1023 B", "1.5 KiB", "340 MiB", "1.2 GiB". The
// number is rounded to one decimal before the unit is chosen, so a value just
// under a unit boundary prints as "1 MiB", never "1024 KiB". ParseBytes
// accepts every string HumanBytes returns for n >= 0, giving back n up to
// the rounding of the printed decimal.
func HumanBytes(n int64) string {
	sign := ""
	f := float64(n)
	if f < 0 {
		sign, f = "-", -f
	}
	if f < 1024 {
		return sign + strconv.FormatFloat(f, 'f', 0, 64) + " B"
	}
	u := 0
	for u < len(binaryUnits)-1 && math.Round(f*10)/10 >= 1024 {
		f /= 1024
		u++
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return sign + s + " " + binaryUnits[u]
}

// sizeUnits maps a lower-cased unit to its multiplier. The single letters
// and the "i" forms are binary, as in GNU coreutils (split -b 4G) and
// Kubernetes quantities (4Gi); the "B" forms without "i" are decimal.
var sizeUnits = map[string]int64{
	"":  1,
	"b": 1,

	"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "ti": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	"p": 1 << 50, "pi": 1 << 50, "pib": 1 << 50, "pb": 1e15,
	"e": 1 << 60, "ei": 1 << 60, "eib": 1 << 60, "eb": 1e18,
}

// ParseBytes parses a size given by a person, for flags such as a volume size:
//
//	123       bytes
//	700MiB    binary: KiB MiB GiB TiB PiB EiB (also Ki Mi Gi..., as Kubernetes)
//	4G        a single letter is binary too (K M G T P E, as GNU split -b)
//	500MB     decimal: KB MB GB TB PB EB
//	1.5GiB    a decimal fraction, rounded down to a whole byte
//	4 GiB     spaces around the number and unit are ignored
//
// Units are case-insensitive. Signs, exponents, underscores, commas, a
// fraction of a byte without a unit ("1.5") and values above math.MaxInt64
// are errors wrapping ErrInvalidSize that say what is wrong.
func ParseBytes(s string) (int64, error) {
	fail := func(reason string, args ...any) (int64, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrInvalidSize, s, fmt.Sprintf(reason, args...))
	}
	if len(s) > maxSizeInput {
		return 0, fmt.Errorf("%w: %d characters, longer than any size (%d)", ErrInvalidSize, len(s), maxSizeInput)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return fail("empty")
	}
	if t[0] == '-' {
		return fail("a size cannot be negative")
	}
	if t[0] == '+' {
		return fail("a size takes no sign")
	}

	// The number: digits, optionally one '.' and more digits.
	i := 0
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	intPart := t[:i]
	fracPart := ""
	if i < len(t) && t[i] == '.' {
		j := i + 1
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		fracPart = t[i+1 : j]
		if intPart == "" || fracPart == "" {
			return fail("a decimal point needs digits on both sides")
		}
		i = j
	}
	if intPart == "" {
		return fail("must start with a number")
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return fail("unknown unit %q (use B, KiB, MiB, GiB, TiB; KB, MB, GB, TB; or K, M, G, T for binary)", unit)
	}
	if fracPart != "" && mult == 1 {
		return fail("a fraction of a byte")
	}

	// value = floor((int.frac) * mult), computed exactly.
	num, _ := new(big.Int).SetString(intPart+fracPart, 10) // digits only: cannot fail
	num.Mul(num, big.NewInt(mult))
	if fracPart != "" {
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(fracPart))), nil)
		num.Quo(num, den)
	}
	if !num.IsInt64() {
		return fail("larger than the largest size, %d bytes (8 EiB)", int64(math.MaxInt64))
	}
	return num.Int64(), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
