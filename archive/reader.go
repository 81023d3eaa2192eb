package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/enclave-mirror/enclave/format"
)

// VolumeError lists what is wrong with an archive's volume files.
type VolumeError struct {
	Dir      string
	Problems []string
	// Err is the class of the first problem (format.ErrVolume,
	// format.ErrTruncated, ...).
	Err error
}

func (e *VolumeError) Error() string {
	return fmt.Sprintf("archive: %s: %s", e.Dir, strings.Join(e.Problems, "; "))
}

func (e *VolumeError) Unwrap() error { return e.Err }

// Reader is a finished archive opened for reading. It is an
// oras.ReadOnlyGraphTarget and safe for concurrent use.
type Reader struct {
	dir  string
	arch *format.Archive
	vols *dirVolumes
	opts options
	// problems are what OpenForInspection found wrong with the volumes.
	problems error

	graphOnce sync.Once
	graphErr  error
	preds     map[digest.Digest][]ocispec.Descriptor
	referrers map[digest.Digest][]ocispec.Descriptor // by subject
	descs     map[digest.Digest]ocispec.Descriptor

	manifests manifestCache // see Fetch

	omittedOnce sync.Once
	omitted     map[digest.Digest][]ocispec.Descriptor // by index: see Omitted
}

// Open opens the archive in directory path (or the directory of the volume
// file path names). Every volume's header and footer is checked against the
// index first: missing, extra, swapped, foreign and truncated volumes are all
// named in one *VolumeError before any blob is served.
func Open(path string, opts ...OpenOption) (*Reader, error) {
	o, err := openOptions(opts)
	if err != nil {
		return nil, err
	}
	dir := path
	if info, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	} else if !info.IsDir() {
		dir = filepath.Dir(path)
	}
	files, odd, err := listVolumes(dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if len(files) == 0 {
		if hasPartials(dir) {
			return nil, &VolumeError{Dir: dir, Problems: []string{"only temporary volumes of an interrupted pack are here; run the pack again"}, Err: format.ErrTruncated}
		}
		return nil, fmt.Errorf("archive: no archive in %s (no %s files)", dir, VolumeName(1))
	}
	vs := &dirVolumes{dir: dir, files: map[uint32]*os.File{}, reads: o.reads}
	fail := func(err error) (*Reader, error) { vs.close(); return nil, err }
	for _, f := range files {
		fh, err := os.OpenFile(filepath.Join(dir, f.name), os.O_RDONLY|oNoFollow, 0)
		if err != nil {
			return fail(fmt.Errorf("archive: %w", err))
		}
		vs.files[f.number] = fh
	}
	last := files[len(files)-1]
	arch, err := format.Open(vs.files[last.number], last.size, format.ReaderOptions{Limits: o.limits})
	if err != nil {
		ve := &VolumeError{Dir: dir, Err: err}
		if errors.Is(err, format.ErrVolume) {
			// The last file is not final: either files past the final
			// volume are extra (checkVolumes names them), or later
			// volumes are missing.
			if final, ok := findFinal(vs, files[:len(files)-1]); ok {
				if arch, err = format.Open(vs.files[final.number], final.size, format.ReaderOptions{Limits: o.limits}); err == nil {
					r := &Reader{dir: dir, arch: arch, vols: vs, opts: o}
					if err := checkText(arch.Manifest()); err != nil {
						return fail(fmt.Errorf("archive %s: %w", dir, err))
					}
					if err := r.checkVolumes(files, odd); err != nil {
						if !o.report {
							return fail(err)
						}
						r.problems = err
					}
					return r, nil
				}
				ve.Err = err
				ve.Problems = append(ve.Problems, fmt.Sprintf("%s: %v", final.name, err))
				return fail(ve)
			}
			if f, ferr := format.ReadFooter(vs.files[last.number], last.size); ferr == nil && !f.Final {
				ve.Problems = append(ve.Problems, fmt.Sprintf("%s is not the final volume: the volumes after it, including the final one that holds the index, are missing", last.name))
				ve.Err = format.ErrVolume
				return fail(ve)
			}
		}
		ve.Problems = append(ve.Problems, fmt.Sprintf("%s: %v", last.name, err))
		return fail(ve)
	}
	r := &Reader{dir: dir, arch: arch, vols: vs, opts: o}
	if err := checkText(arch.Manifest()); err != nil {
		return fail(fmt.Errorf("archive %s: %w", dir, err))
	}
	if err := r.checkVolumes(files, odd); err != nil {
		if !o.report {
			return fail(err)
		}
		r.problems = err
	}
	return r, nil
}

// OpenForInspection opens the archive in dir as far as its final volume
// allows (its index and manifest), and returns what is wrong with the other
// volumes (missing, extra, swapped, foreign, truncated: a *VolumeError) as
// problems instead of failing on them, so that a listing can show what the
// archive holds and say what is wrong. Reading a blob of a missing or
// foreign volume fails. err is set when not even the index can be read.
func OpenForInspection(dir string) (r *Reader, problems error, err error) {
	r, err = Open(dir, openOption(func(o *options) error { o.report = true; return nil }))
	if err != nil {
		return nil, nil, err
	}
	return r, r.problems, nil
}

// findFinal returns the last of files whose footer says it is the final
// volume.
func findFinal(vs *dirVolumes, files []volumeFile) (volumeFile, bool) {
	for i := len(files) - 1; i >= 0; i-- {
		if f, err := format.ReadFooter(vs.files[files[i].number], files[i].size); err == nil && f.Final {
			return files[i], true
		}
	}
	return volumeFile{}, false
}

func hasPartials(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), volumeSuffix+partialExt) {
			return true
		}
	}
	return false
}

func (r *Reader) checkVolumes(files []volumeFile, odd []string) error {
	ve := &VolumeError{Dir: r.dir}
	add := func(class error, format string, args ...any) {
		ve.Problems = append(ve.Problems, fmt.Sprintf(format, args...))
		if ve.Err == nil {
			ve.Err = class
		}
	}
	want := r.arch.Volumes()
	have := map[uint32]volumeFile{}
	for _, f := range files {
		have[f.number] = f
	}
	for _, name := range odd {
		add(format.ErrVolume, "%s is not a well-named volume (expected names like %s)", name, VolumeName(1))
	}
	for _, f := range files {
		if int(f.number) > len(want) {
			add(format.ErrVolume, "%s is extra: the archive has %d volumes", f.name, len(want))
		}
	}
	for _, v := range want {
		f, ok := have[v.Number]
		if !ok {
			if !r.opts.indexOnly {
				add(format.ErrVolume, "%s is missing (%d bytes expected)", VolumeName(v.Number), v.Size)
			}
			continue
		}
		if err := r.arch.CheckVolume(v.Number, r.vols.files[v.Number], f.size); err != nil {
			// The class CheckVolume found (FORMAT.md 5.4), so that a
			// directory gives the verdict the spec gives for the volume.
			class := format.ErrVolume
			for _, c := range []error{format.ErrTruncated, format.ErrDigest, format.ErrChecksum, format.ErrMalformed, format.ErrUnsupported, format.ErrLimit} {
				if errors.Is(err, c) {
					class = c
					break
				}
			}
			add(class, "%s: %s", f.name, strings.TrimPrefix(err.Error(), "format: check volume: "))
		}
	}
	if len(ve.Problems) > 0 {
		return ve
	}
	return nil
}

// Close closes the volume files.
func (r *Reader) Close() error {
	r.vols.close()
	return nil
}

// Dir returns the archive's directory.
func (r *Reader) Dir() string { return r.dir }

// ID returns the archive id.
func (r *Reader) ID() format.ArchiveID { return r.arch.ID() }

// Digest returns the archive digest (what one signs or compares).
func (r *Reader) Digest() digest.Digest { return r.arch.Digest() }

// Manifest returns the archive manifest.
func (r *Reader) Manifest() *format.Manifest { return r.arch.Manifest() }

// Roots returns the packed images and artifacts with their references.
func (r *Reader) Roots() []format.Root { return r.arch.Manifest().Roots }

// Delta returns the delta manifest, nil for a full archive.
func (r *Reader) Delta() *format.Delta { return r.arch.Manifest().Delta }

// Volumes returns the archive's volumes as the index records them.
func (r *Reader) Volumes() []format.VolumeInfo { return r.arch.Volumes() }

// Format returns the underlying format-level archive.
func (r *Reader) Format() *format.Archive { return r.arch }

// Exists reports whether the archive contains desc.
func (r *Reader) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	_, ok := r.arch.Lookup(desc.Digest)
	return ok, nil
}

// Fetch streams desc's content. The stream verifies each chunk as it is read
// and the digest at the end; a mismatch is an error, never silent.
func (r *Reader) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := r.arch.Lookup(desc.Digest)
	if !ok {
		return nil, fmt.Errorf("archive: %s: %w", desc.Digest, errdef.ErrNotFound)
	}
	if desc.Size != b.Size {
		return nil, fmt.Errorf("archive: %s is %d bytes in the archive, the descriptor says %d: %w", desc.Digest, b.Size, desc.Size, content.ErrMismatchedDigest)
	}
	if isManifestType(desc.MediaType) {
		if m, ok := r.manifests.get(desc.Digest); ok {
			return io.NopCloser(bytes.NewReader(m)), nil
		}
		if desc.Size <= maxManifestBytes {
			m, err := io.ReadAll(&ctxReadCloser{ctx: ctx, BlobReader: r.arch.OpenBlob(b, r.vols)})
			if err != nil {
				return nil, err
			}
			r.manifests.put(desc.Digest, m)
			return io.NopCloser(bytes.NewReader(m)), nil
		}
	}
	return &ctxReadCloser{ctx: ctx, BlobReader: r.arch.OpenBlob(b, r.vols)}, nil
}

// manifestCacheBytes bounds the manifests a Reader keeps: a copy reads
// each manifest several times (the graph check, the plan, the copy, the
// receipt), and every read of a small blob elsewhere in the volumes is a
// seek on a disk. The first manifests up to the bound are kept.
const manifestCacheBytes = 8 << 20

// manifestCache keeps manifests read whole and checked (their digest
// matched), up to manifestCacheBytes. Safe for concurrent use.
type manifestCache struct {
	mu    sync.Mutex
	m     map[digest.Digest][]byte
	bytes int
}

func (c *manifestCache) get(d digest.Digest) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[d]
	return b, ok
}

func (c *manifestCache) put(d digest.Digest, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d]; ok || c.bytes+len(b) > manifestCacheBytes {
		return
	}
	if c.m == nil {
		c.m = map[digest.Digest][]byte{}
	}
	c.m[d] = b
	c.bytes += len(b)
}

// FetchAt streams desc's content from offset on (for resumed uploads). Chunks
// are verified; the blob digest is verified only from offset 0.
func (r *Reader) FetchAt(ctx context.Context, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error) {
	b, ok := r.arch.Lookup(desc.Digest)
	if !ok {
		return nil, fmt.Errorf("archive: %s: %w", desc.Digest, errdef.ErrNotFound)
	}
	br, err := r.arch.OpenBlobAt(b, r.vols, offset)
	if err != nil {
		return nil, err
	}
	return &ctxReadCloser{ctx: ctx, BlobReader: br}, nil
}

// FetchFrom streams desc's content from a checkpoint a reader of it from
// offset 0 took (format.BlobReader.Checkpoints) on: the digest is checked
// over the whole blob at the end, continuing the state of the first reader
// (an upload resumed where the registry is, without reading the blob again
// from its start).
func (r *Reader) FetchFrom(ctx context.Context, desc ocispec.Descriptor, cp format.Checkpoint) (io.ReadCloser, error) {
	b, ok := r.arch.Lookup(desc.Digest)
	if !ok {
		return nil, fmt.Errorf("archive: %s: %w", desc.Digest, errdef.ErrNotFound)
	}
	br, err := r.arch.OpenBlobFrom(b, r.vols, cp)
	if err != nil {
		return nil, err
	}
	return &ctxReadCloser{ctx: ctx, BlobReader: br}, nil
}

type ctxReadCloser struct {
	ctx context.Context
	*format.BlobReader
}

func (c *ctxReadCloser) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.BlobReader.Read(p)
}

// Resolve finds a root by one of its references, or by digest.
func (r *Reader) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	for _, root := range r.Roots() {
		if string(root.Descriptor.Digest) == ref {
			return root.Descriptor, nil
		}
		for _, x := range root.References {
			if x == ref {
				return root.Descriptor, nil
			}
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("archive: %s: %w", ref, errdef.ErrNotFound)
}

// Predecessors returns the nodes that refer to node (manifests listing it,
// indexes listing them, referrers naming it as subject).
func (r *Reader) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if err := r.buildGraph(ctx); err != nil {
		return nil, err
	}
	return r.preds[node.Digest], nil
}

// ReferrersOf returns the manifests of the archive whose subject is node
// (signatures, SBOMs, attestations), unlike Predecessors, which also
// returns the manifests and indexes that list node.
func (r *Reader) ReferrersOf(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if err := r.buildGraph(ctx); err != nil {
		return nil, err
	}
	return r.referrers[node.Digest], nil
}

// Descriptor returns the full descriptor (media type included) under which
// d is referred to in the archive's graph, if any.
func (r *Reader) Descriptor(ctx context.Context, d digest.Digest) (ocispec.Descriptor, bool, error) {
	if err := r.buildGraph(ctx); err != nil {
		return ocispec.Descriptor{}, false, err
	}
	desc, ok := r.descs[d]
	return desc, ok, nil
}

// CheckGraph reads every manifest reachable from the roots (once; Fetch,
// Predecessors and Descriptor reuse what it read) and refuses what no
// archive should hold: a manifest whose content disagrees with its
// descriptor or is both an index and a manifest (CVE-2021-41190), a graph
// nested deeper than MaxGraphDepth (ErrGraphTooDeep). The archive's writer
// refuses to pack either; CheckGraph is for archives made by anything else.
// Unpack calls it before it writes anything.
func (r *Reader) CheckGraph(ctx context.Context) error { return r.buildGraph(ctx) }

// buildGraph reads every manifest reachable from the roots, once.
func (r *Reader) buildGraph(ctx context.Context) error {
	r.graphOnce.Do(func() {
		r.preds = map[digest.Digest][]ocispec.Descriptor{}
		r.referrers = map[digest.Digest][]ocispec.Descriptor{}
		r.descs = map[digest.Digest]ocispec.Descriptor{}
		var walk func(d ocispec.Descriptor, depth int) error
		walk = func(d ocispec.Descriptor, depth int) error {
			if _, seen := r.descs[d.Digest]; seen {
				return nil
			}
			r.descs[d.Digest] = d
			if !isManifestType(d.MediaType) {
				return nil
			}
			if depth > MaxGraphDepth {
				return tooDeep(d.Digest)
			}
			if _, ok := r.arch.Lookup(d.Digest); !ok {
				return nil // a prerequisite: the destination has it
			}
			if d.Size > maxManifestBytes {
				return fmt.Errorf("archive: manifest %s is %d bytes, above %d", d.Digest, d.Size, maxManifestBytes)
			}
			b, err := content.FetchAll(ctx, r, d)
			if err != nil {
				return fmt.Errorf("archive: read manifest %s: %w", d.Digest, err)
			}
			if err := checkManifest(d, b); err != nil {
				return err // a writer refuses to pack it; a hand-made archive may hold it
			}
			var m struct {
				Subject *ocispec.Descriptor `json:"subject"`
			}
			if json.Unmarshal(b, &m) == nil && m.Subject != nil {
				r.referrers[m.Subject.Digest] = append(r.referrers[m.Subject.Digest], d)
			}
			succ, err := content.Successors(ctx, bytesFetcher(b), d)
			if err != nil {
				return fmt.Errorf("archive: read manifest %s: %w", d.Digest, err)
			}
			if err := r.checkOmittedListed(d.Digest, succ); err != nil {
				return err
			}
			for _, s := range r.withoutOmitted(d.Digest, succ) {
				r.preds[s.Digest] = append(r.preds[s.Digest], d)
				if err := walk(s, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		for _, root := range r.Roots() {
			if err := walk(root.Descriptor, 0); err != nil {
				name := root.Descriptor.Digest.String()
				if len(root.References) > 0 {
					name = root.References[0] + " (" + name + ")"
				}
				r.graphErr = fmt.Errorf("%w, in the graph of %s", err, name)
				return
			}
		}
	})
	return r.graphErr
}

// Tags returns every reference the archive records for its roots (the
// names Resolve accepts), sorted.
func (r *Reader) Tags() []string {
	var out []string
	for _, root := range r.Roots() {
		out = append(out, root.References...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Attachment reads the attachment called name, checking its digest, with
// at most max bytes (0: DefaultMaxAttachmentBytes). Errors wrap ErrNotFound
// when the archive has no such attachment.
func (r *Reader) Attachment(ctx context.Context, name string, max int64) ([]byte, error) {
	at, err := r.Attachments(AttachmentLimits{})
	if err != nil {
		return nil, err
	}
	for _, a := range r.Manifest().Attachments {
		if a.Name == name {
			if max <= 0 {
				max = DefaultMaxAttachmentBytes
			}
			return at.Read(ctx, a, max)
		}
	}
	return nil, fmt.Errorf("%w: no attachment %q in %s", ErrNotFound, name, r.dir)
}
