package catalog

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// span is a document's bytes in the spool file.
type span struct{ off, n int64 }

// part is a piece of an output file: literal bytes or a spool span.
type part struct {
	lit  []byte
	span span
}

// outFile is one file of the filtered catalog, relative to the configs dir.
type outFile struct {
	path  string
	parts []part
	size  int64
}

// fbc is a filtered catalog ready to be written: its files, whose bundle
// and unknown-schema documents lie in a spool file read again from the
// image's layers (so memory holds the graph, not the payloads).
type fbc struct {
	files []outFile
	spool *os.File
}

func (f *fbc) Close() error {
	name := f.spool.Name()
	err := f.spool.Close()
	os.Remove(name)
	return err
}

// reader returns the content of one output file.
func (f *fbc) reader(o outFile) io.Reader {
	rs := make([]io.Reader, 0, len(o.parts))
	for _, p := range o.parts {
		if p.lit != nil {
			rs = append(rs, bytes.NewReader(p.lit))
		} else {
			rs = append(rs, io.NewSectionReader(f.spool, p.span.off, p.span.n))
		}
	}
	return io.MultiReader(rs...)
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// rewrite decodes a document, lets fn change its fields, and encodes it
// again (keys sorted, as opm writes them).
func rewrite(raw []byte, fn func(map[string]json.RawMessage) error) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if err := fn(m); err != nil {
		return nil, err
	}
	return marshal(m)
}

// safeName refuses names that cannot be a directory of the configs tree.
func safeName(n string) error {
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") {
		return fmt.Errorf("%w: package name %q cannot be a directory name", ErrInvalidFBC, n)
	}
	return nil
}

// build reads the kept bundle and unknown-schema documents from the image
// into a spool file and lays out the output files: one
// <package>/catalog.json per package (package, channels, bundles,
// deprecations, then its other documents) and catalog.json at the root for
// documents of no package. Order and encoding are fixed, so the same
// selection gives the same bytes.
func (s *Selection) build(ctx context.Context) (*fbc, error) {
	spool, err := os.CreateTemp("", "enclave-fbc-*")
	if err != nil {
		return nil, fmt.Errorf("catalog: spool file: %w", err)
	}
	out := &fbc{spool: spool}
	spans, err := s.spool(ctx, spool)
	if err != nil {
		out.Close()
		return nil, err
	}
	nl := []byte("\n")
	add := func(f *outFile, b []byte) {
		f.parts = append(f.parts, part{lit: b}, part{lit: nl})
		f.size += int64(len(b)) + 1
	}
	addSpan := func(f *outFile, sp span) {
		f.parts = append(f.parts, part{span: sp}, part{lit: nl})
		f.size += sp.n + 1
	}
	others := map[string][]*Blob{}
	for _, b := range s.Others {
		others[b.Package] = append(others[b.Package], b)
	}
	for _, sp := range s.Packages {
		if err := safeName(sp.Name); err != nil {
			out.Close()
			return nil, err
		}
		f := outFile{path: sp.Name + "/catalog.json"}
		b, err := rewrite(sp.pkg.raw, func(m map[string]json.RawMessage) error {
			return setJSON(m, "defaultChannel", sp.DefaultChannel)
		})
		if err != nil {
			out.Close()
			return nil, fmt.Errorf("%w: package %q: %v", ErrInvalidFBC, sp.Name, err)
		}
		add(&f, b)
		for _, c := range sp.Channels {
			keep := map[string]bool{}
			for _, e := range c.Entries {
				keep[e.Name] = true
			}
			b, err := rewrite(c.ch.raw, func(m map[string]json.RawMessage) error {
				var entries []json.RawMessage
				if err := json.Unmarshal(m["entries"], &entries); err != nil {
					return err
				}
				entries = slices.DeleteFunc(entries, func(raw json.RawMessage) bool {
					var e struct {
						Name string `json:"name"`
					}
					json.Unmarshal(raw, &e) //nolint:errcheck // checked at load
					return !keep[e.Name]
				})
				return setJSON(m, "entries", entries)
			})
			if err != nil {
				out.Close()
				return nil, fmt.Errorf("%w: package %q channel %q: %v", ErrInvalidFBC, sp.Name, c.Name, err)
			}
			add(&f, b)
		}
		for _, bd := range sp.Bundles {
			addSpan(&f, spans[bd.loc])
		}
		if sp.pkg.Deprecations != nil && len(sp.Deprecations) > 0 {
			b, err := rewrite(sp.pkg.Deprecations.raw, func(m map[string]json.RawMessage) error {
				entries := make([]json.RawMessage, len(sp.Deprecations))
				for i, d := range sp.Deprecations {
					entries[i] = d.raw
				}
				return setJSON(m, "entries", entries)
			})
			if err != nil {
				out.Close()
				return nil, fmt.Errorf("%w: package %q deprecations: %v", ErrInvalidFBC, sp.Name, err)
			}
			add(&f, b)
		}
		for _, o := range others[sp.Name] {
			addSpan(&f, spans[o.loc])
		}
		out.files = append(out.files, f)
	}
	if len(others[""]) > 0 {
		f := outFile{path: "catalog.json"}
		for _, o := range others[""] {
			addSpan(&f, spans[o.loc])
		}
		out.files = append(out.files, f)
	}
	slices.SortFunc(out.files, func(a, b outFile) int { return cmp.Compare(a.path, b.path) })
	return out, nil
}

func setJSON(m map[string]json.RawMessage, k string, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	m[k] = b
	return nil
}

// spool reads the kept bundle and unknown-schema documents out of the
// image's layers, one layer pass each, and writes them to w as compact
// JSON (YAML documents converted).
func (s *Selection) spool(ctx context.Context, w *os.File) (map[location]span, error) {
	type key struct{ layer, entry int }
	want := map[key][]location{}
	for _, p := range s.Packages {
		for _, b := range p.Bundles {
			want[key{b.loc.layer, b.loc.entry}] = append(want[key{b.loc.layer, b.loc.entry}], b.loc)
		}
	}
	for _, o := range s.Others {
		want[key{o.loc.layer, o.loc.entry}] = append(want[key{o.loc.layer, o.loc.entry}], o.loc)
	}
	spans := map[location]span{}
	var off int64
	c := s.Catalog
	for li, l := range c.layers {
		var entries []int
		for k := range want {
			if k.layer == li {
				entries = append(entries, k.entry)
			}
		}
		if len(entries) == 0 {
			continue
		}
		slices.Sort(entries)
		r, done, err := openLayer(ctx, c.src, l)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(r)
		err = func() error {
			for entry := 0; len(entries) > 0; entry++ {
				h, err := tr.Next()
				if err != nil {
					return fmt.Errorf("%w: layer %d (%s): reading tar again: %v", ErrInvalidImage, li, l.Digest, err)
				}
				if entry != entries[0] {
					continue
				}
				entries = entries[1:]
				locs := want[key{li, entry}]
				slices.SortFunc(locs, func(a, b location) int { return cmp.Compare(a.offset, b.offset) })
				var pos int64
				for _, loc := range locs {
					if cleanPath(h.Name) != loc.path {
						return fmt.Errorf("%w: layer %d (%s): entry %d is %s, was %s when the catalog was loaded", ErrInvalidImage, li, l.Digest, entry, h.Name, loc.path)
					}
					if _, err := io.CopyN(io.Discard, tr, loc.offset-pos); err != nil {
						return fmt.Errorf("%w: layer %d (%s): %s: %v", ErrInvalidImage, li, l.Digest, loc.path, err)
					}
					doc := make([]byte, loc.length)
					if _, err := io.ReadFull(tr, doc); err != nil {
						return fmt.Errorf("%w: layer %d (%s): %s: %v", ErrInvalidImage, li, l.Digest, loc.path, err)
					}
					pos = loc.offset + loc.length
					var js []byte
					if loc.yaml {
						js, err = yamlToJSON(doc)
					} else {
						var buf bytes.Buffer
						err = json.Compact(&buf, doc)
						js = buf.Bytes()
					}
					if err != nil {
						return fmt.Errorf("%w: layer %d (%s): %s offset %d: %v", ErrInvalidFBC, li, l.Digest, loc.path, loc.offset, err)
					}
					if _, err := w.Write(js); err != nil {
						return fmt.Errorf("catalog: spool file: %w", err)
					}
					spans[loc] = span{off, int64(len(js))}
					off += int64(len(js))
				}
			}
			return nil
		}()
		if err != nil {
			done() //nolint:errcheck // the first error is the one to report
			return nil, err
		}
		if err := done(); err != nil {
			return nil, err
		}
	}
	return spans, nil
}

// WriteDir writes the filtered file-based catalog into dir (created if
// needed): <package>/catalog.json per package and catalog.json for
// documents of no package, files 0644, directories 0755. It reads the kept
// bundle documents again from the catalog image.
func (s *Selection) WriteDir(ctx context.Context, dir string) error {
	f, err := s.build(ctx)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, o := range f.files {
		p := filepath.Join(dir, filepath.FromSlash(o.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if _, err := io.Copy(w, f.reader(o)); err != nil {
			w.Close()
			return fmt.Errorf("catalog: writing %s: %w", p, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("catalog: writing %s: %w", p, err)
		}
	}
	return nil
}

// layerTime is the modification time of every entry of a built layer, so
// that rebuilding gives the same bytes (the epoch, as reproducible builds
// use for SOURCE_DATE_EPOCH=0).
var layerTime = time.Unix(0, 0).UTC()

// writeTar writes the layer replacing the configs directory: the directory,
// its opaque whiteout (hiding every file lower layers put there), the
// filtered files, and a whiteout for each of the serve caches. Headers are
// written here, never copied from a disk: root-owned, directories 0755,
// files 0644 (OCPBUGS-61386), fixed times.
func writeTar(w io.Writer, dir string, f *fbc, caches []string) error {
	tw := tar.NewWriter(w)
	type ent struct {
		name string
		dir  bool
		file *outFile
	}
	var ents []ent
	ents = append(ents, ent{name: dir + "/", dir: true}, ent{name: dir + "/" + whiteoutOpaque})
	dirs := map[string]bool{}
	for i := range f.files {
		o := &f.files[i]
		if d := path.Dir(o.path); d != "." && !dirs[d] {
			dirs[d] = true
			ents = append(ents, ent{name: dir + "/" + d + "/", dir: true})
		}
		ents = append(ents, ent{name: dir + "/" + o.path, file: o})
	}
	for _, c := range caches {
		ents = append(ents, ent{name: path.Join(path.Dir(c), whiteoutPrefix+path.Base(c))})
	}
	slices.SortStableFunc(ents, func(a, b ent) int { return cmp.Compare(a.name, b.name) })
	for _, e := range ents {
		h := &tar.Header{Name: e.name, ModTime: layerTime, Uid: 0, Gid: 0, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case e.file != nil:
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, e.file.size
		default: // whiteouts
			h.Typeflag, h.Mode = tar.TypeReg, 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("catalog: writing layer: %w", err)
		}
		if e.file != nil {
			if _, err := io.Copy(tw, f.reader(*e.file)); err != nil {
				return fmt.Errorf("catalog: writing layer: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("catalog: writing layer: %w", err)
	}
	return nil
}
