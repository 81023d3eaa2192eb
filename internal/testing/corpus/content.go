package corpus

import (
	"archive/tar"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// modTime is the modification time of every file in every layer, and the
// creation time of every image: fixed, so that layers are reproducible.
var modTime = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

// fileKind is what a generated file looks like, and so how well it compresses.
type fileKind int

const (
	fileText       fileKind = iota // configuration, source code, documentation: gzip ~0.3
	fileELF                        // executables and shared libraries: gzip ~0.45
	fileCompressed                 // .gz, .png, .jar: already compressed, gzip ~1.0
	fileRandom                     // keys, caches, model weights: gzip ~1.0
	numFileKinds
)

// mix is the share of a layer's bytes in each file kind.
type mix [numFileKinds]float64

// dict is shared by every layer of a corpus, the way one distribution's files
// share a vocabulary and one compiler's binaries share instruction patterns.
type dict struct {
	words  []string // pseudo-words, most frequent first
	instrs [][]byte // "machine instructions", most frequent first
}

// Sizes of the shared dictionaries.
const (
	numWords  = 4096
	numInstrs = 512
)

var codeTokens = []string{
	"if", "else", "for", "return", "func", "err", "nil", "def", "self", "import",
	"const", "var", "int", "string", "true", "false", "none", "class", "static",
	"void", "struct", "type", "case", "break", "default", "the", "a", "of", "to",
	"and", "in", "is", "for", "with", "on", "that", "this", "be", "are", "not",
}

func newDict(seed uint64) *dict {
	r := newRNG(seed, "dict")
	const consonants = "bcdfghklmnprstvwxyz"
	const vowels = "aeiou"
	d := &dict{words: append([]string(nil), codeTokens...)}
	seen := make(map[string]bool, numWords)
	for _, w := range codeTokens {
		seen[w] = true
	}
	var b strings.Builder
	for len(d.words) < numWords {
		b.Reset()
		for range 1 + r.intn(4) {
			b.WriteByte(consonants[r.intn(len(consonants))])
			b.WriteByte(vowels[r.intn(len(vowels))])
			if r.intn(3) == 0 {
				b.WriteByte(consonants[r.intn(len(consonants))])
			}
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			d.words = append(d.words, w)
		}
	}
	d.instrs = make([][]byte, numInstrs)
	for i := range d.instrs {
		in := make([]byte, 1+r.intn(8))
		r.fill(in)
		d.instrs[i] = in
	}
	return d
}

// word picks a word with a Zipf-like skew: low indexes are much more frequent.
func (d *dict) word(r *rng) string {
	f := r.float()
	f *= f * f
	return d.words[int(f*f*numWords)]
}

// fileGen writes the content of one file of a kind.
type fileGen struct {
	d   *dict
	r   *rng
	buf []byte
}

// chunk is how much content is generated at a time; files are streamed in
// chunks so that even a 2 GiB file needs no more memory than this.
const chunk = 256 << 10

func (g *fileGen) write(w io.Writer, kind fileKind, n int64) error {
	first := true
	for n > 0 {
		g.buf = g.buf[:0]
		want := int(min(n, chunk))
		switch kind {
		case fileText:
			g.text(want)
		case fileELF:
			g.elf(first, want)
		case fileCompressed:
			g.random(first, want, compressedMagics[g.r.intn(len(compressedMagics))])
		default:
			g.random(first, want, nil)
		}
		first = false
		b := g.buf
		if int64(len(b)) > n {
			b = b[:n]
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		n -= int64(len(b))
	}
	return nil
}

const indent = "\t\t\t\t\t\t\t\t"

// text appends at least want bytes of lines in one of three styles: key/value
// configuration, indented source code, or prose. Like real text, lines often
// repeat a recent line with a word or two changed.
func (g *fileGen) text(want int) {
	style := g.r.intn(3)
	prev := -1
	for len(g.buf) < want {
		start := len(g.buf)
		if prev >= 0 && g.r.intn(3) == 0 {
			g.buf = append(g.buf, g.buf[prev:start]...)
			g.buf = append(g.buf[:len(g.buf)-1], ' ')
			g.buf = append(g.buf, g.d.word(g.r)...)
			g.buf = append(g.buf, '\n')
			prev = start
			continue
		}
		prev = start
		switch style {
		case 0: // configuration
			g.buf = append(g.buf, indent[:2*g.r.intn(3)]...)
			g.buf = append(g.buf, g.d.word(g.r)...)
			g.buf = append(g.buf, '_')
			g.buf = append(g.buf, g.d.word(g.r)...)
			g.buf = append(g.buf, ": "...)
			if g.r.intn(4) == 0 {
				g.buf = fmt.Appendf(g.buf, "%d", g.r.intn(65536))
			} else {
				g.buf = append(g.buf, g.d.word(g.r)...)
			}
		case 1: // source code
			g.buf = append(g.buf, indent[:g.r.intn(4)]...)
			for i, n := 0, 2+g.r.intn(8); i < n; i++ {
				g.buf = append(g.buf, g.d.word(g.r)...)
				g.buf = append(g.buf, " .(, = := ) {"[g.r.intn(13)])
			}
		default: // prose
			for i, n := 0, 6+g.r.intn(12); i < n; i++ {
				if i > 0 {
					g.buf = append(g.buf, ' ')
				}
				g.buf = append(g.buf, g.d.word(g.r)...)
			}
			g.buf = append(g.buf, '.')
		}
		g.buf = append(g.buf, '\n')
	}
}

var elfHeader = []byte{
	0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	3, 0, 0x3e, 0, 1, 0, 0, 0, 0x40, 0x10, 0, 0, 0, 0, 0, 0,
	0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0x40, 0, 0x38, 0, 0x0d, 0, 0x40, 0, 0x1f, 0, 0x1e, 0,
}

// elf appends about a chunk of an executable: instruction sequences drawn
// from the shared table with random 32-bit operands, then a string table and
// a symbol table with regular structure, then alignment padding.
func (g *fileGen) elf(first bool, want int) {
	if first {
		g.buf = append(g.buf, elfHeader...)
	}
	for len(g.buf) < want*3/4 { // .text
		f := g.r.float()
		f *= f
		g.buf = append(g.buf, g.d.instrs[int(f*f*numInstrs)]...)
		if g.r.intn(8) == 0 { // a near relative jump or call
			g.buf = binary.LittleEndian.AppendUint32(g.buf, uint32(int32(g.r.intn(1<<16)-1<<15)))
		}
	}
	for len(g.buf) < want*7/8 { // .rodata / .dynstr
		g.buf = append(g.buf, g.d.word(g.r)...)
		g.buf = append(g.buf, '_')
		g.buf = append(g.buf, g.d.word(g.r)...)
		g.buf = append(g.buf, 0)
	}
	for name := uint32(0); len(g.buf) < want; name += 8 + uint32(g.r.intn(24)) { // .symtab
		g.buf = binary.LittleEndian.AppendUint32(g.buf, name)
		g.buf = append(g.buf, 0x12, 0, byte(g.r.intn(16)), 0)
		g.buf = binary.LittleEndian.AppendUint64(g.buf, 0x401000+uint64(g.r.intn(1<<20)))
		g.buf = binary.LittleEndian.AppendUint64(g.buf, uint64(g.r.intn(4096)))
	}
	g.buf = append(g.buf, make([]byte, g.r.intn(want/16+1))...) // alignment
}

var compressedMagics = [][]byte{
	{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3},                  // gzip
	{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},         // PNG
	{'P', 'K', 3, 4, 20, 0, 8, 0, 8, 0},                   // zip / jar
	{0x28, 0xb5, 0x2f, 0xfd},                              // zstd
	{0xfd, '7', 'z', 'X', 'Z', 0},                         // xz
	{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'}, // JPEG
}

// random appends want random bytes, after magic on the first chunk.
func (g *fileGen) random(first bool, want int, magic []byte) {
	if first {
		g.buf = append(g.buf, magic...)
	}
	n := len(g.buf)
	g.buf = g.buf[:max(n, want)]
	g.r.fill(g.buf[n:])
}

// fileSizes bounds the sizes of files of each kind (log-uniform in between).
var fileSizes = [numFileKinds][2]int64{
	fileText:       {128, 96 << 10},
	fileELF:        {8 << 10, 8 << 20},
	fileCompressed: {2 << 10, 2 << 20},
	fileRandom:     {512, 256 << 10},
}

// dirs are the directories files of each kind go to, like a Linux image.
var dirs = [numFileKinds][]string{
	fileText:       {"etc", "usr/share/doc", "usr/lib/python3.11/site-packages", "usr/share/licenses", "opt/app/config", "usr/include"},
	fileELF:        {"usr/bin", "usr/lib64", "usr/libexec", "usr/sbin", "opt/app/bin"},
	fileCompressed: {"usr/share/icons", "usr/share/java", "usr/share/man/man1", "opt/app/lib"},
	fileRandom:     {"var/lib", "usr/share/zoneinfo", "etc/pki", "opt/app/data"},
}

var suffixes = [numFileKinds][]string{
	fileText:       {".conf", ".py", ".md", ".yaml", ".h", ".sh", ".json", ""},
	fileELF:        {"", ".so", ".so.1", ".so.6"},
	fileCompressed: {".gz", ".png", ".jar", ".zst", ".xz", ".jpg"},
	fileRandom:     {".bin", ".db", ".pem", ""},
}

// layerWriter writes the files of one layer as a tar stream.
type layerWriter struct {
	tw    *tar.Writer
	gen   fileGen
	dirs  map[string]bool
	names map[string]bool
}

func newLayerWriter(w io.Writer, d *dict, r *rng) *layerWriter {
	return &layerWriter{
		tw:    tar.NewWriter(w),
		gen:   fileGen{d: d, r: r, buf: make([]byte, 0, chunk+64<<10)},
		dirs:  map[string]bool{},
		names: map[string]bool{},
	}
}

func (lw *layerWriter) header(name string, typ byte, mode, size int64) error {
	return lw.tw.WriteHeader(&tar.Header{
		Typeflag: typ, Name: name, Mode: mode, Size: size,
		Uname: "root", Gname: "root", ModTime: modTime, Format: tar.FormatUSTAR,
	})
}

// file writes one file of kind and size below dir, creating parent
// directories as needed.
func (lw *layerWriter) file(dir string, kind fileKind, size int64) error {
	r, d := lw.gen.r, lw.gen.d
	name := path.Join(dir, d.word(r)+suffixes[kind][r.intn(len(suffixes[kind]))])
	if kind == fileText || kind == fileCompressed {
		name = path.Join(dir, d.word(r), path.Base(name))
	}
	for i, base := 1, name; lw.names[name]; i++ {
		name = fmt.Sprintf("%s.%d", base, i)
	}
	lw.names[name] = true
	var parents []string
	for p := path.Dir(name); p != "." && !lw.dirs[p]; p = path.Dir(p) {
		lw.dirs[p] = true
		parents = append(parents, p)
	}
	for i := len(parents) - 1; i >= 0; i-- {
		if err := lw.header(parents[i]+"/", tar.TypeDir, 0o755, 0); err != nil {
			return err
		}
	}
	mode := int64(0o644)
	if kind == fileELF {
		mode = 0o755
	}
	if err := lw.header(name, tar.TypeReg, mode, size); err != nil {
		return err
	}
	return lw.gen.write(lw.tw, kind, size)
}

// fill writes files until about size bytes of tar stream are written, with
// the kinds of files in the proportions of m. Kinds are interleaved by
// drawing each next file's kind in proportion to its remaining budget.
func (lw *layerWriter) fill(m mix, size int64) error {
	r := lw.gen.r
	var left [numFileKinds]int64
	var total int64
	for k, share := range m {
		left[k] = int64(share * float64(size))
		total += left[k]
	}
	for total > 0 {
		pick := int64(r.float() * float64(total))
		k := 0
		for ; k < int(numFileKinds)-1 && pick >= left[k]; k++ {
			pick -= left[k]
		}
		n := min(r.logUniform(fileSizes[k][0], fileSizes[k][1]), left[k])
		ds := dirs[k]
		if err := lw.file(ds[r.intn(len(ds))], fileKind(k), n); err != nil {
			return err
		}
		n += 512 // the file's header, near enough
		n = min(n, left[k])
		left[k] -= n
		total -= n
	}
	return nil
}

func (lw *layerWriter) Close() error { return lw.tw.Close() }
