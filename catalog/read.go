package catalog

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	blang "github.com/blang/semver/v4"
	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.yaml.in/yaml/v3"
	"oras.land/oras-go/v2/content"
)

// Media types of Docker v2 schema 2 images, which catalog images often are.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	indexIgnore    = ".indexignore"
	// zstd decoder bounds, as for every zstd stream the project reads.
	zstdMaxWindow = 64 << 20
	zstdMaxMemory = 256 << 20
)

// Load reads the file-based catalog of the catalog image desc (a manifest or
// an index) from src, keeping its graph in memory and the place of every
// document, so that a filtered catalog can be written later by reading the
// layers again (src must stay usable for that).
//
// The FBC directory is the one the config label [ConfigsLabel] names, or
// [DefaultConfigsDir]. Layers are applied in order with OCI whiteouts
// (".wh.<name>" and opaque ".wh..wh..opq"); files matched by an .indexignore
// are left out. Each file is a JSON stream or a YAML multi-document stream.
//
// For an index, every platform image of a catalog carries the same FBC:
// Load reads the linux/amd64 image, or the first image when there is none.
func Load(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (*Catalog, error) {
	c := &Catalog{Image: desc, src: src, pkgs: map[string]*Package{}}
	man, err := platformManifest(ctx, src, desc)
	if err != nil {
		return nil, err
	}
	c.Manifest = man.desc
	c.layers = man.Layers
	c.Config = man.config.Config
	if _, ok := c.Config.Labels[SQLiteLabel]; ok {
		if _, ok := c.Config.Labels[ConfigsLabel]; !ok {
			return nil, fmt.Errorf("%w: image %s is an sqlite-based index (label %s): only file-based catalogs are supported", ErrInvalidImage, desc.Digest, SQLiteLabel)
		}
	}
	c.Dir = DefaultConfigsDir
	if d, ok := c.Config.Labels[ConfigsLabel]; ok {
		c.Dir = d
	}
	dir := cleanPath(c.Dir)
	if dir == "" {
		return nil, fmt.Errorf("%w: image %s: label %s=%q names the root directory", ErrInvalidImage, desc.Digest, ConfigsLabel, c.Dir)
	}
	r := &reader{c: c, dir: dir, state: map[string]*file{}}
	for i, l := range man.Layers {
		if err := r.layer(ctx, i, l); err != nil {
			return nil, err
		}
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// manifest is one platform image: its descriptor, manifest and config.
type manifest struct {
	desc ocispec.Descriptor
	ocispec.Manifest
	config ocispec.Image
}

func fetchJSON(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, what string, v any) error {
	if desc.Size < 0 || desc.Size > MaxManifestSize {
		return fmt.Errorf("%w: %s %s is %d bytes (limit %d)", ErrLimit, what, desc.Digest, desc.Size, MaxManifestSize)
	}
	b, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return fmt.Errorf("catalog: fetching %s %s: %w", what, desc.Digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrInvalidImage, what, desc.Digest, err)
	}
	return nil
}

func isIndex(mt string) bool { return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerList }

func isManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

// platformManifest resolves desc to the platform image to read.
func platformManifest(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (*manifest, error) {
	for depth := 0; isIndex(desc.MediaType); depth++ {
		if depth > 4 {
			return nil, fmt.Errorf("%w: image %s: indexes nested more than 4 deep", ErrInvalidImage, desc.Digest)
		}
		var idx ocispec.Index
		if err := fetchJSON(ctx, src, desc, "index", &idx); err != nil {
			return nil, err
		}
		var pick *ocispec.Descriptor
		for i, m := range idx.Manifests {
			if !isManifest(m.MediaType) && !isIndex(m.MediaType) {
				continue
			}
			if m.Platform != nil && m.Platform.OS == "unknown" {
				continue // attestation manifests of buildx
			}
			if pick == nil {
				pick = &idx.Manifests[i]
			}
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
				pick = &idx.Manifests[i]
				break
			}
		}
		if pick == nil {
			return nil, fmt.Errorf("%w: index %s lists no image manifest", ErrInvalidImage, desc.Digest)
		}
		desc = *pick
	}
	if !isManifest(desc.MediaType) {
		return nil, fmt.Errorf("%w: %s has media type %q, want an image manifest or index", ErrInvalidImage, desc.Digest, desc.MediaType)
	}
	m := &manifest{desc: desc}
	if err := fetchJSON(ctx, src, desc, "manifest", &m.Manifest); err != nil {
		return nil, err
	}
	if len(m.Layers) > MaxLayers {
		return nil, fmt.Errorf("%w: manifest %s has %d layers (limit %d)", ErrLimit, desc.Digest, len(m.Layers), MaxLayers)
	}
	if err := fetchJSON(ctx, src, m.Config, "config", &m.config); err != nil {
		return nil, err
	}
	return m, nil
}

// openLayer returns the uncompressed tar stream of layer l and a function
// that, once the stream was read to its end, checks the blob's digest and
// releases everything.
func openLayer(ctx context.Context, src content.Fetcher, l ocispec.Descriptor) (io.Reader, func() error, error) {
	rc, err := src.Fetch(ctx, l)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: fetching layer %s: %w", l.Digest, err)
	}
	vr := content.NewVerifyReader(rc, l)
	var r io.Reader
	var closeDec func()
	mt := l.MediaType
	switch {
	case strings.HasSuffix(mt, "+gzip") || strings.HasSuffix(mt, ".gzip"):
		zr, err := gzip.NewReader(vr)
		if err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("%w: layer %s: %v", ErrInvalidImage, l.Digest, err)
		}
		r, closeDec = zr, func() { zr.Close() }
	case strings.HasSuffix(mt, "+zstd") || strings.HasSuffix(mt, ".zstd"):
		zr, err := zstd.NewReader(vr, zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxMemory), zstd.WithDecoderConcurrency(1))
		if err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("%w: layer %s: %v", ErrInvalidImage, l.Digest, err)
		}
		r, closeDec = zr, zr.Close
	case strings.HasSuffix(mt, ".tar") || mt == "application/vnd.docker.image.rootfs.diff.tar":
		r, closeDec = vr, func() {}
	default:
		rc.Close()
		return nil, nil, fmt.Errorf("%w: layer %s has media type %q, want a tar layer (plain, gzip or zstd)", ErrInvalidImage, l.Digest, mt)
	}
	done := func() error {
		defer rc.Close()
		defer closeDec()
		// Drain what the tar reader left (padding, the compressed stream's
		// trailer) so that the digest covers the whole blob.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("%w: layer %s: %v", ErrInvalidImage, l.Digest, err)
		}
		if _, err := io.Copy(io.Discard, vr); err != nil {
			return fmt.Errorf("catalog: reading layer %s: %w", l.Digest, err)
		}
		if err := vr.Verify(); err != nil {
			return fmt.Errorf("%w: layer %s: %v", ErrInvalidImage, l.Digest, err)
		}
		return nil
	}
	return r, done, nil
}

// cleanPath turns a tar entry name or the label into a clean relative
// path: "./configs/a/" and "/configs/a" are both "configs/a".
func cleanPath(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// file is one regular file of the FBC directory as a layer left it.
type file struct {
	layer, entry int
	path         string
	docs         []any // *Package, *Channel, *Bundle, *Deprecations, *Blob
	ignore       []string
	err          error // a parse error, raised only if the file survives
}

type reader struct {
	c     *Catalog
	dir   string
	state map[string]*file // path -> file, the FBC as the layers so far left it
	ndocs int
	files int
}

func (r *reader) layer(ctx context.Context, li int, l ocispec.Descriptor) error {
	tr, done, err := openLayer(ctx, r.c.src, l)
	if err != nil {
		return err
	}
	if err := r.walk(li, l, tar.NewReader(tr)); err != nil {
		done() //nolint:errcheck // the walk error is the one to report
		return err
	}
	return done()
}

func (r *reader) under(p string) bool { return strings.HasPrefix(p, r.dir+"/") }

func (r *reader) walk(li int, l ocispec.Descriptor, tr *tar.Reader) error {
	added := map[string]*file{}
	var whiteouts, opaque []string
	for entry := 0; ; entry++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: layer %d (%s): reading tar: %v", ErrInvalidImage, li, l.Digest, err)
		}
		p := cleanPath(h.Name)
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == whiteoutOpaque:
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			whiteouts = append(whiteouts, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		if !r.under(p) {
			if p == r.dir || strings.HasPrefix(r.dir, p+"/") {
				if h.Typeflag != tar.TypeDir {
					// A non-directory replaces the configs dir or a parent.
					whiteouts = append(whiteouts, p)
				}
			}
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg, 0: // 0 is the old TypeRegA, which archive/tar reports as TypeReg
		case tar.TypeSymlink, tar.TypeLink:
			return fmt.Errorf("%w: layer %d (%s): %s is a link; links in the catalog directory are not supported", ErrInvalidFBC, li, l.Digest, p)
		default:
			continue
		}
		r.files++
		if r.files > MaxFiles {
			return fmt.Errorf("%w: layer %d (%s): more than %d files under %s", ErrLimit, li, l.Digest, MaxFiles, r.c.Dir)
		}
		if h.Size > MaxEntrySize {
			return fmt.Errorf("%w: layer %d (%s): %s is %d bytes (limit %d)", ErrLimit, li, l.Digest, p, h.Size, int64(MaxEntrySize))
		}
		f := &file{layer: li, entry: entry, path: p}
		if base == indexIgnore {
			f.ignore, f.err = readIgnore(tr)
		} else if err := r.parse(f, tr); err != nil {
			if errors.Is(err, ErrLimit) {
				return fmt.Errorf("layer %d (%s): %s: %w", li, l.Digest, p, err)
			}
			f.err = fmt.Errorf("%w: layer %d (%s): %s: %v", ErrInvalidFBC, li, l.Digest, p, err)
		}
		added[p] = f
	}
	// Whiteouts hide what lower layers hold, not what this layer adds.
	for _, d := range opaque {
		for p := range r.state {
			if strings.HasPrefix(p, d+"/") || d == "" {
				delete(r.state, p)
			}
		}
	}
	for _, w := range whiteouts {
		for p := range r.state {
			if p == w || strings.HasPrefix(p, w+"/") {
				delete(r.state, p)
			}
		}
	}
	for p, f := range added {
		r.state[p] = f
	}
	return nil
}

func readIgnore(rd io.Reader) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(rd, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%w: .indexignore larger than 1 MiB", ErrLimit)
	}
	var pats []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			pats = append(pats, line)
		}
	}
	return pats, nil
}

// ignored reports whether p is matched by the .indexignore file at ig:
// patterns are matched against the path relative to the .indexignore's
// directory, and against the file's base name when they hold no slash.
// This is the subset of gitignore syntax catalogs use (no negation).
func ignored(ig *file, p string) bool {
	dir := path.Dir(ig.path)
	rel, ok := strings.CutPrefix(p, dir+"/")
	if !ok {
		return false
	}
	for _, pat := range ig.ignore {
		pat = strings.TrimPrefix(strings.TrimSuffix(pat, "/"), "/")
		if m, _ := path.Match(pat, rel); m {
			return true
		}
		if !strings.Contains(pat, "/") {
			if m, _ := path.Match(pat, path.Base(rel)); m {
				return true
			}
			for _, part := range strings.Split(path.Dir(rel), "/") {
				if m, _ := path.Match(pat, part); m {
					return true
				}
			}
		} else if strings.HasPrefix(rel, pat+"/") {
			return true
		}
	}
	return false
}

// parse splits the file into documents and decodes each one's skeleton.
// The format is decided by the first byte that is not white space, as
// opm's decoder does: '{' is JSON, anything else YAML. Leading white space
// is peeked, not consumed, so that offsets and YAML indentation stay right.
func (r *reader) parse(f *file, rd io.Reader) error {
	br := bufio.NewReaderSize(rd, 64<<10)
	var skipped int64
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if err == io.EOF {
				return nil // empty or white space only
			}
			if err == bufio.ErrBufferFull {
				// More leading white space than the buffer: drop it.
				d, _ := br.Discard(n - 1)
				skipped += int64(d)
				n = 0
				continue
			}
			return err
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return r.parseJSON(f, br, skipped)
		}
		return r.parseYAML(f, br, skipped)
	}
}

func (r *reader) parseJSON(f *file, rd *bufio.Reader, off int64) error {
	s := &jsonSplitter{br: rd, off: off}
	for {
		raw, off, err := s.next()
		if err != nil {
			return err
		}
		if raw == nil {
			return nil
		}
		loc := location{layer: f.layer, entry: f.entry, path: f.path, offset: off, length: int64(len(raw))}
		if err := r.doc(f, raw, loc); err != nil {
			return err
		}
	}
}

// jsonSplitter cuts a stream of concatenated JSON objects into documents.
// It only finds where each object ends (strings, escapes, nesting);
// json.Unmarshal of the document checks the rest. Long string literals
// (base64 payloads, most of a catalog's bytes) are skipped with
// bufio.Reader.ReadSlice rather than byte by byte, which is what makes
// reading a large catalog fast.
type jsonSplitter struct {
	br  *bufio.Reader
	off int64
	buf []byte
}

// next returns the next document and its offset; nil at the end.
func (s *jsonSplitter) next() ([]byte, int64, error) {
	for {
		c, err := s.br.ReadByte()
		if err == io.EOF {
			return nil, s.off, nil
		}
		if err != nil {
			return nil, s.off, err
		}
		s.off++
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
		default:
			return nil, s.off - 1, fmt.Errorf("offset %d: want a JSON object, found %q", s.off-1, c)
		}
		break
	}
	start := s.off - 1
	tooLarge := fmt.Errorf("%w: a document at offset %d is larger than %d bytes", ErrLimit, start, maxDocumentSize)
	s.buf = append(s.buf[:0], '{')
	depth := 1
	for depth > 0 {
		if int64(len(s.buf)) > maxDocumentSize {
			return nil, start, tooLarge
		}
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				return nil, start, fmt.Errorf("offset %d: unexpected end of file in the document that starts there", start)
			}
			return nil, start, err
		}
		s.buf = append(s.buf, c)
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			if err := s.skipString(start); err != nil {
				return nil, start, err
			}
		}
	}
	s.off = start + int64(len(s.buf))
	// The caller keeps slices of the document while decoding it only.
	return s.buf, start, nil
}

// skipString appends the rest of a string literal (the opening quote is
// already in buf) up to and including its closing quote.
func (s *jsonSplitter) skipString(start int64) error {
	for {
		chunk, err := s.br.ReadSlice('"')
		s.buf = append(s.buf, chunk...)
		if int64(len(s.buf)) > maxDocumentSize {
			return fmt.Errorf("%w: a document at offset %d is larger than %d bytes", ErrLimit, start, maxDocumentSize)
		}
		switch err {
		case nil:
			// The quote ends the string unless an odd number of
			// backslashes precedes it.
			n := 0
			for i := len(s.buf) - 2; i >= 0 && s.buf[i] == '\\'; i-- {
				n++
			}
			if n%2 == 0 {
				return nil
			}
		case bufio.ErrBufferFull:
		case io.EOF:
			return fmt.Errorf("offset %d: unexpected end of file in a string of the document that starts there", start)
		default:
			return err
		}
	}
}

// yamlSplitter cuts a YAML stream into documents at "---" and "..." lines,
// which the YAML spec forbids inside content at column 0.
type yamlSplitter struct {
	br  *bufio.Reader
	off int64
}

// next returns the next document's bytes and offset; nil at the end.
func (s *yamlSplitter) next() ([]byte, int64, error) {
	var doc []byte
	start := s.off
	for {
		line, err := s.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line (base64 payloads): keep reading it.
			if int64(len(doc)+len(line)) > maxDocumentSize {
				return nil, start, fmt.Errorf("%w: a document at offset %d is larger than %d bytes", ErrLimit, start, maxDocumentSize)
			}
			doc = append(doc, line...)
			s.off += int64(len(line))
			continue
		}
		if err != nil && err != io.EOF {
			return nil, start, err
		}
		atLineStart := len(doc) == 0 || doc[len(doc)-1] == '\n'
		if atLineStart && isDocMarker(line) {
			s.off += int64(len(line))
			if hasContent(doc) {
				return doc, start, nil
			}
			doc, start = doc[:0], s.off
			if err == io.EOF {
				return nil, start, nil
			}
			continue
		}
		if int64(len(doc)+len(line)) > maxDocumentSize {
			return nil, start, fmt.Errorf("%w: a document at offset %d is larger than %d bytes", ErrLimit, start, maxDocumentSize)
		}
		doc = append(doc, line...)
		s.off += int64(len(line))
		if err == io.EOF {
			if hasContent(doc) {
				return doc, start, nil
			}
			return nil, start, nil
		}
	}
}

func isDocMarker(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) && !bytes.HasPrefix(line, []byte("...")) {
		return false
	}
	rest := line[3:]
	return len(rest) == 0 || rest[0] == '\n' || rest[0] == '\r' || rest[0] == ' ' || rest[0] == '\t'
}

// hasContent reports whether a YAML document holds more than blank lines
// and comments.
func hasContent(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' && t[0] != '%' {
			return true
		}
	}
	return false
}

func (r *reader) parseYAML(f *file, rd *bufio.Reader, off int64) error {
	s := &yamlSplitter{br: rd, off: off}
	for {
		doc, off, err := s.next()
		if err != nil {
			return err
		}
		if doc == nil {
			return nil
		}
		raw, err := yamlToJSON(doc)
		if err != nil {
			return fmt.Errorf("YAML document at offset %d: %v", off, err)
		}
		if raw == nil {
			continue
		}
		loc := location{layer: f.layer, entry: f.entry, path: f.path, offset: off, length: int64(len(doc)), yaml: true}
		if err := r.doc(f, raw, loc); err != nil {
			return err
		}
	}
}

// yamlToJSON converts one YAML document to JSON; nil for an empty
// document. Keys keep their order; timestamps and other scalars that JSON
// has no type for stay the strings they were written as (as opm's YAML
// loader, sigs.k8s.io/yaml, keeps them), not reformatted dates.
func yamlToJSON(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, err
	}
	if n.Kind == 0 || (n.Kind == yaml.DocumentNode && len(n.Content) == 0) {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &n, 0); err != nil {
		return nil, err
	}
	if buf.String() == "null" {
		return nil, nil
	}
	return buf.Bytes(), nil
}

// writeJSON writes a YAML node as JSON.
func writeJSON(w *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 1000 {
		return errors.New("YAML nested more than 1000 deep")
	}
	// Aliases can make a small document expand without bound ("billion
	// laughs"): the JSON may not outgrow the document limit.
	if int64(w.Len()) > 2*maxDocumentSize {
		return fmt.Errorf("%w: the document expands to more than %d bytes of JSON (YAML aliases)", ErrLimit, 2*maxDocumentSize)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			w.WriteString("null")
			return nil
		}
		return writeJSON(w, n.Content[0], depth+1)
	case yaml.AliasNode:
		return writeJSON(w, n.Alias, depth+1)
	case yaml.MappingNode:
		w.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				w.WriteByte(',')
			}
			k, err := marshal(n.Content[i].Value)
			if err != nil {
				return err
			}
			w.Write(k)
			w.WriteByte(':')
			if err := writeJSON(w, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		w.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		w.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := writeJSON(w, c, depth+1); err != nil {
				return err
			}
		}
		w.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!null":
			w.WriteString("null")
			return nil
		case "!!bool", "!!int", "!!float":
			if err := n.Decode(&v); err != nil {
				return err
			}
			if f, ok := v.(float64); ok && (f != f || f > 1e308 || f < -1e308) {
				v = n.Value // .nan, .inf: no JSON number
			}
		default:
			v = n.Value
		}
		b, err := marshal(v)
		if err != nil {
			return err
		}
		w.Write(b)
		return nil
	}
	return fmt.Errorf("unsupported YAML node kind %d", n.Kind)
}

// alias keeps a slice of the document being decoded, without copying it;
// valid only while that document's bytes are.
type alias []byte

func (a *alias) UnmarshalJSON(b []byte) error { *a = b; return nil }

// skeleton is what is decoded of every document: names, edges, versions
// and images. Property values other than olm.package are not copied.
type skeleton struct {
	Schema         string  `json:"schema"`
	Package        string  `json:"package"`
	Name           string  `json:"name"`
	DefaultChannel string  `json:"defaultChannel"`
	Entries        []Entry `json:"entries"`
	Image          string  `json:"image"`
	RelatedImages  []RelatedImage
	Properties     []struct {
		Type  string `json:"type"`
		Value alias  `json:"value"`
	} `json:"properties"`
}

type deprecationJSON struct {
	Reference struct {
		Schema string `json:"schema"`
		Name   string `json:"name"`
	} `json:"reference"`
	Message string `json:"message"`
}

func (r *reader) doc(f *file, raw []byte, loc location) error {
	r.ndocs++
	if r.ndocs > maxDocuments {
		return fmt.Errorf("%w: more than %d documents", ErrLimit, maxDocuments)
	}
	var s skeleton
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("document at offset %d: %v", loc.offset, err)
	}
	at := func(format string, a ...any) error {
		return fmt.Errorf("document at offset %d (schema %q, name %q): %s", loc.offset, s.Schema, s.Name, fmt.Sprintf(format, a...))
	}
	for _, n := range []string{s.Package, s.Name, s.DefaultChannel, s.Image} {
		if len(n) > MaxNameLength {
			return fmt.Errorf("%w: a name is longer than %d bytes", ErrLimit, MaxNameLength)
		}
	}
	switch s.Schema {
	case "":
		return fmt.Errorf("document at offset %d is missing the root schema field", loc.offset)
	case SchemaPackage:
		if s.Name == "" {
			return at("package without a name")
		}
		f.docs = append(f.docs, &Package{Name: s.Name, DefaultChannel: s.DefaultChannel, raw: compact(raw)})
	case SchemaChannel:
		if s.Package == "" || s.Name == "" {
			return at("channel without package or name")
		}
		for _, e := range s.Entries {
			if e.Name == "" {
				return at("channel entry without a name")
			}
			if e.SkipRange != "" {
				if _, err := blang.ParseRange(e.SkipRange); err != nil {
					return at("entry %q: skipRange %q: %v", e.Name, e.SkipRange, err)
				}
			}
			for _, sk := range e.Skips {
				if sk == "" {
					return at("entry %q has an empty skips item", e.Name)
				}
			}
		}
		f.docs = append(f.docs, &Channel{Package: s.Package, Name: s.Name, Entries: s.Entries, raw: compact(raw)})
	case SchemaBundle:
		if s.Package == "" || s.Name == "" {
			return at("bundle without package or name")
		}
		b := &Bundle{Package: s.Package, Name: s.Name, Image: s.Image, RelatedImages: s.RelatedImages, loc: loc}
		n := 0
		for _, p := range s.Properties {
			if p.Type != "olm.package" {
				continue
			}
			n++
			var v struct {
				PackageName string `json:"packageName"`
				Version     string `json:"version"`
			}
			if err := json.Unmarshal(p.Value, &v); err != nil {
				return at("olm.package property: %v", err)
			}
			if v.PackageName != s.Package {
				return at("olm.package property names package %q, the bundle is in %q", v.PackageName, s.Package)
			}
			ver, err := semver.StrictNewVersion(v.Version)
			if err != nil {
				return at("version %q is not a semantic version: %v", v.Version, err)
			}
			b.Version, b.version = v.Version, ver
		}
		if n != 1 {
			return at("%d olm.package properties, want exactly one", n)
		}
		f.docs = append(f.docs, b)
	case SchemaDeprecations:
		var d struct {
			Package string            `json:"package"`
			Entries []json.RawMessage `json:"entries"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return at("%v", err)
		}
		dep := &Deprecations{Package: d.Package, raw: compact(raw)}
		for _, e := range d.Entries {
			var de deprecationJSON
			if err := json.Unmarshal(e, &de); err != nil {
				return at("entry: %v", err)
			}
			if de.Message == "" {
				return at("deprecation of %s %q without a message", de.Reference.Schema, de.Reference.Name)
			}
			dep.Entries = append(dep.Entries, Deprecation{Schema: de.Reference.Schema, Name: de.Reference.Name, Message: de.Message, raw: compact(e)})
		}
		f.docs = append(f.docs, dep)
	default:
		f.docs = append(f.docs, &Blob{Schema: s.Schema, Package: s.Package, Name: s.Name, loc: loc})
	}
	return nil
}

func compact(raw []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return slices.Clone(raw)
	}
	return buf.Bytes()
}

// finish assembles the catalog from the files the layers left.
func (r *reader) finish() error {
	files := make([]*file, 0, len(r.state))
	var ignores []*file
	for _, f := range r.state {
		if f.ignore != nil || path.Base(f.path) == indexIgnore {
			if f.err != nil {
				return f.err
			}
			ignores = append(ignores, f)
			continue
		}
		files = append(files, f)
	}
	files = slices.DeleteFunc(files, func(f *file) bool {
		return slices.ContainsFunc(ignores, func(ig *file) bool { return ignored(ig, f.path) })
	})
	slices.SortFunc(files, func(a, b *file) int { return cmp.Compare(a.path, b.path) })
	if len(files) == 0 {
		return fmt.Errorf("%w: image %s holds no file under %s (label %s)", ErrInvalidImage, r.c.Image.Digest, r.c.Dir, ConfigsLabel)
	}
	c := r.c
	var channels []*Channel
	var bundles []*Bundle
	var deps []*Deprecations
	for _, f := range files {
		if f.err != nil {
			return f.err
		}
		for _, d := range f.docs {
			switch d := d.(type) {
			case *Package:
				if c.pkgs[d.Name] != nil {
					return fmt.Errorf("%w: %s: package %q is defined twice", ErrInvalidFBC, f.path, d.Name)
				}
				d.channels, d.bundles = map[string]*Channel{}, map[string]*Bundle{}
				c.pkgs[d.Name] = d
				c.Packages = append(c.Packages, d)
			case *Channel:
				channels = append(channels, d)
			case *Bundle:
				bundles = append(bundles, d)
			case *Deprecations:
				deps = append(deps, d)
			case *Blob:
				c.Others = append(c.Others, d)
			}
		}
	}
	slices.SortFunc(c.Packages, func(a, b *Package) int { return cmp.Compare(a.Name, b.Name) })
	for _, ch := range channels {
		p := c.pkgs[ch.Package]
		if p == nil {
			return fmt.Errorf("%w: channel %q names package %q, which has no olm.package", ErrInvalidFBC, ch.Name, ch.Package)
		}
		if p.channels[ch.Name] != nil {
			return fmt.Errorf("%w: package %q: channel %q is defined twice", ErrInvalidFBC, ch.Package, ch.Name)
		}
		p.channels[ch.Name] = ch
		p.Channels = append(p.Channels, ch)
	}
	for _, b := range bundles {
		p := c.pkgs[b.Package]
		if p == nil {
			return fmt.Errorf("%w: bundle %q names package %q, which has no olm.package", ErrInvalidFBC, b.Name, b.Package)
		}
		if p.bundles[b.Name] != nil {
			return fmt.Errorf("%w: package %q: bundle %q is defined twice", ErrInvalidFBC, b.Package, b.Name)
		}
		p.bundles[b.Name] = b
		p.Bundles = append(p.Bundles, b)
	}
	for _, d := range deps {
		p := c.pkgs[d.Package]
		if p == nil {
			return fmt.Errorf("%w: olm.deprecations names package %q, which has no olm.package", ErrInvalidFBC, d.Package)
		}
		if p.Deprecations != nil {
			return fmt.Errorf("%w: package %q has more than one olm.deprecations", ErrInvalidFBC, d.Package)
		}
		p.Deprecations = d
	}
	for _, p := range c.Packages {
		slices.SortFunc(p.Channels, func(a, b *Channel) int { return cmp.Compare(a.Name, b.Name) })
		slices.SortFunc(p.Bundles, func(a, b *Bundle) int { return cmp.Compare(a.Name, b.Name) })
	}
	return nil
}
