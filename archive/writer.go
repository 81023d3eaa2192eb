package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/fsutil"
)

// maxManifestBytes bounds a manifest or index kept in memory while packing
// (the distribution spec's 4 MiB).
const maxManifestBytes = 4 << 20

// Writer is an archive being written. It is an oras.Target: Push, Exists,
// Fetch (manifests only), Tag and Resolve; all are safe for concurrent use.
// Close makes the archive final.
type Writer struct {
	dir  string
	opts options
	fw   *format.Writer
	lock *dirLock
	id   format.ArchiveID

	// volMu guards volumes alone: the format writer calls CreateVolume with
	// its own lock held, so CreateVolume must not take mu (Push holds mu
	// while it asks the format writer questions).
	volMu   sync.Mutex
	volumes []string // partial file paths, by number-1

	mu        sync.Mutex
	manifests map[digest.Digest][]byte
	descs     map[digest.Digest]ocispec.Descriptor
	inflight  map[digest.Digest]*pushCall
	roots     []format.Root
	rootIdx   map[digest.Digest]int
	refs      map[string]ocispec.Descriptor
	skipped   map[digest.Digest]int64                // asked about and held by a base
	omit      map[digest.Digest][]ocispec.Descriptor // children left out of an index, by Omit
	attach    []format.Attachment
	closed    bool
	stats     WriterStats

	slots chan struct{} // one per blob being written, maxBlobWriters at most
}

// maxBlobWriters bounds the blobs written at once. Each holds two chunk
// buffers (raw and stored, 8 MiB at the default chunk size), and more
// writers add no speed: their chunks reach the volume one at a time. Other
// pushes wait, their source streams held back by TCP flow control.
const maxBlobWriters = 4

type pushCall struct {
	done chan struct{}
	err  error
}

// WriterStats counts what a Writer did.
type WriterStats struct {
	Blobs        int   // blobs written
	Bytes        int64 // their uncompressed bytes
	StoredBytes  int64 // bytes written to volumes for them
	SkippedBlobs int   // blobs left out because a base holds them
	SkippedBytes int64
	// RecoveredBlobs were found complete in the volumes of an interrupted
	// pack of the same directory and reused.
	RecoveredBlobs int
	RecoveredBytes int64
}

// Create starts an archive in directory path, creating it if needed. The
// directory must not already hold a finished archive (ErrExists) nor be in
// use by another process (ErrLocked). Volumes are written under temporary
// names until Close, which renames them: an interrupted pack never looks
// complete.
//
// Create resumes an interrupted archive: when the directory holds the
// temporary volumes of a pack that was stopped (Ctrl-C, a crash, a full
// disk), the blobs they hold complete are kept, and pushing the same
// content again writes only what is missing (WriterStats.RecoveredBlobs
// says how much was reused). Abort, or removing the directory, starts
// afresh.
func Create(path string, opts ...CreateOption) (*Writer, error) {
	o, err := createOptions(opts)
	if err != nil {
		return nil, err
	}
	for _, p := range o.basePaths {
		b, err := LoadBase(p)
		if err != nil {
			return nil, err
		}
		o.bases = append(o.bases, b)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("archive: create %s: %w", path, err)
	}
	if info, err := os.Lstat(path); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("archive: %s is not a directory", path)
	}
	if err := checkVolumeFits(path, fsTypeOf(path), o.volumeSize); err != nil {
		return nil, err
	}
	lock, err := lockDir(path)
	if err != nil {
		return nil, err
	}
	vols, odd, err := listVolumes(path)
	if err != nil {
		lock.unlock()
		return nil, fmt.Errorf("archive: %w", err)
	}
	if len(vols) > 0 || len(odd) > 0 {
		lock.unlock()
		return nil, fmt.Errorf("%w: %s holds %s; write each archive to its own directory", ErrExists, path, firstName(vols, odd))
	}
	w := &Writer{dir: path, opts: o, lock: lock,
		manifests: map[digest.Digest][]byte{}, descs: map[digest.Digest]ocispec.Descriptor{},
		inflight: map[digest.Digest]*pushCall{}, rootIdx: map[digest.Digest]int{},
		refs: map[string]ocispec.Descriptor{}, skipped: map[digest.Digest]int64{}, omit: map[digest.Digest][]ocispec.Descriptor{},
		slots: make(chan struct{}, maxBlobWriters)}
	fopts := format.WriterOptions{ChunkSize: o.chunkSize, VolumeSize: o.volumeSize, Compression: o.compression}
	// Temporaries of an interrupted pack (kill -9, power loss): continue
	// that archive, reusing every blob written completely.
	if fw, err := w.resume(fopts); err != nil {
		o.logger.Warn("cannot resume the interrupted pack; starting again", "dir", path, "error", err)
		w.removePartials()
	} else if fw != nil {
		w.fw = fw
		return w, nil
	}
	if _, err := rand.Read(w.id[:]); err != nil {
		lock.unlock()
		return nil, err
	}
	fopts.Archive = w.id
	fw, err := format.NewWriter(volumeSink{w}, fopts)
	if err != nil {
		lock.unlock()
		return nil, fmt.Errorf("archive: %w", err)
	}
	w.fw = fw
	return w, nil
}

// partialVolumes returns the numbers of the temporary volumes in the
// directory, if they run 1..n.
func (w *Writer) partialVolumes() (uint32, bool) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return 0, false
	}
	nums := map[uint32]bool{}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "."+volumePrefix) || !strings.HasSuffix(n, volumeSuffix+partialExt) {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "."+volumePrefix), volumeSuffix+partialExt), 10, 32)
		if err != nil || v == 0 || partialName(uint32(v)) != n {
			continue
		}
		nums[uint32(v)] = true
	}
	for i := uint32(1); i <= uint32(len(nums)); i++ {
		if !nums[i] {
			return 0, false
		}
	}
	return uint32(len(nums)), len(nums) > 0
}

func (w *Writer) removePartials() {
	entries, _ := os.ReadDir(w.dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, partialExt) {
			os.Remove(filepath.Join(w.dir, n))
		}
	}
}

// resume recovers an interrupted pack's temporary volumes. It returns nil
// and no error when there is nothing to resume.
func (w *Writer) resume(fopts format.WriterOptions) (*format.Writer, error) {
	count, ok := w.partialVolumes()
	if !ok {
		w.removePartials()
		return nil, nil
	}
	rec, err := format.Recover(count, func(n uint32) (io.ReadCloser, error) {
		return os.OpenFile(filepath.Join(w.dir, partialName(n)), os.O_RDONLY|oNoFollow, 0)
	}, func(d digest.Digest, size int64) bool { return size <= maxManifestBytes })
	if err != nil {
		return nil, err
	}
	for _, n := range rec.Drop {
		os.Remove(filepath.Join(w.dir, partialName(n)))
	}
	w.id = rec.Archive
	for _, v := range rec.Volumes {
		w.volumes = append(w.volumes, filepath.Join(w.dir, partialName(v.Number)))
	}
	fw, err := format.ResumeWriter(volumeSink{w}, fopts, rec)
	if err != nil {
		return nil, err
	}
	var bytes int64
	for _, b := range rec.Blobs {
		bytes += b.Size
		if b.Data == nil {
			continue
		}
		if mt := mediaTypeOf(b.Data); isManifestType(mt) {
			w.manifests[b.Digest] = b.Data
			w.descs[b.Digest] = ocispec.Descriptor{MediaType: mt, Digest: b.Digest, Size: b.Size}
		}
	}
	// A recovered manifest stands for its whole graph (oras skips what
	// exists), so its children must be here too. Empty blobs leave no
	// records and are never recovered: write them again. Anything else
	// missing means the manifest is forgotten and copied again.
	for changed := true; changed; { // forgetting a manifest can leave its index incomplete
		changed = false
		for d, b := range w.manifests {
			desc := w.descs[d]
			succ, err := content.Successors(context.Background(), bytesFetcher(b), desc)
			if err != nil {
				return nil, fmt.Errorf("recovered manifest %s: %w", d, err)
			}
			complete := true
			for _, c := range succ {
				if fw.Has(c.Digest) || w.inBase(c.Digest) {
					continue
				}
				if c.Size == 0 && format.ValidateDigest(c.Digest) == nil && c.Digest.Algorithm().FromBytes(nil) == c.Digest {
					bw, err := fw.Blob(c.Digest, 0)
					if err == nil {
						err = bw.Commit()
					}
					if err != nil && !errors.Is(err, format.ErrDuplicate) {
						return nil, fmt.Errorf("recover empty blob %s: %w", c.Digest, err)
					}
					continue
				}
				complete = false
			}
			if !complete {
				fw.Forget(d)
				delete(w.manifests, d)
				delete(w.descs, d)
				changed = true
			}
		}
	}
	w.stats.RecoveredBlobs, w.stats.RecoveredBytes = len(rec.Blobs), bytes
	w.opts.logger.Info("resuming an interrupted pack", "dir", w.dir, "archive", rec.Archive.String(),
		"blobs", len(rec.Blobs), "bytes", bytes, "volumes", len(rec.Volumes)+map[bool]int{true: 1}[rec.Current != 0])
	return fw, nil
}

// volumeSink is where the format writer puts volumes: files of the
// writer's directory, under temporary names until Close.
type volumeSink struct{ w *Writer }

func (s volumeSink) CreateVolume(n uint32) (io.WriteCloser, error) { return s.w.createVolume(n) }
func (s volumeSink) AppendVolume(n uint32, size int64) (io.WriteCloser, error) {
	return s.w.appendVolume(n, size)
}

// appendVolume reopens an unfinished volume, cut to size, for appending
// (format.AppendSink).
func (w *Writer) appendVolume(n uint32, size int64) (io.WriteCloser, error) {
	p := filepath.Join(w.dir, partialName(n))
	f, err := os.OpenFile(p, os.O_WRONLY|oNoFollow, 0)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	w.volMu.Lock()
	w.volumes = append(w.volumes, p)
	w.volMu.Unlock()
	return &fileVolume{f: f, path: p, written: size, flushed: size}, nil
}

func firstName(vols []volumeFile, odd []string) string {
	if len(vols) > 0 {
		return vols[0].name
	}
	return odd[0]
}

// createVolume creates volume n under its temporary name
// (format.VolumeSink).
func (w *Writer) createVolume(n uint32) (io.WriteCloser, error) {
	p := filepath.Join(w.dir, partialName(n))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|oNoFollow, 0o644)
	if err != nil {
		return nil, fmt.Errorf("archive: create volume: %w", err)
	}
	w.volMu.Lock()
	w.volumes = append(w.volumes, p)
	w.volMu.Unlock()
	return &fileVolume{f: f, path: p}, nil
}

// ID returns the archive id.
func (w *Writer) ID() format.ArchiveID { return w.id }

// Stats returns what the writer has done so far.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	_, s.StoredBytes = w.fw.Stats()
	return s
}

// InBase reports whether a base the archive is cut against holds d.
func (w *Writer) InBase(d digest.Digest) bool { return w.inBase(d) }

// inBase reports whether a base holds d.
func (w *Writer) inBase(d digest.Digest) bool {
	for _, b := range w.opts.bases {
		if b.Has(d) {
			return true
		}
	}
	return false
}

// Exists reports whether the archive holds desc or a base does; oras.Copy
// then neither fetches nor pushes it. An index a base holds without some
// of its children (a sparse copy) counts as held only when the copies
// announced by Omit leave those children out too: otherwise the copy goes
// through it, and its children are asked about one by one.
func (w *Writer) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if w.fw.Has(desc.Digest) {
		return !w.lacksChildren(ctx, desc.Digest), nil
	}
	if w.inBase(desc.Digest) {
		w.mu.Lock()
		if sparse, enough := w.sparseInBase(desc.Digest); sparse && !enough {
			w.mu.Unlock()
			return false, nil
		}
		if _, ok := w.skipped[desc.Digest]; !ok {
			w.skipped[desc.Digest] = desc.Size
			w.stats.SkippedBlobs++
			w.stats.SkippedBytes += desc.Size
		}
		w.descs[desc.Digest] = desc
		w.mu.Unlock()
		return true, nil
	}
	return false, nil
}

// Push writes a blob or manifest, verifying its size and digest. Pushes of
// one digest from several goroutines write it once; the others wait and
// return errdef.ErrAlreadyExists if it succeeded.
func (w *Writer) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := format.ValidateDigest(desc.Digest); err != nil {
		return fmt.Errorf("archive: push: %w: %w", errdef.ErrInvalidDigest, err)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return format.ErrClosed
	}
	if call, ok := w.inflight[desc.Digest]; ok {
		w.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if call.err != nil {
			return call.err
		}
		return fmt.Errorf("archive: %s: %w", desc.Digest, errdef.ErrAlreadyExists)
	}
	if w.fw.Has(desc.Digest) {
		w.mu.Unlock()
		return fmt.Errorf("archive: %s: %w", desc.Digest, errdef.ErrAlreadyExists)
	}
	call := &pushCall{done: make(chan struct{})}
	w.inflight[desc.Digest] = call
	w.mu.Unlock()

	call.err = w.push(ctx, desc, r)

	w.mu.Lock()
	delete(w.inflight, desc.Digest)
	if call.err == nil {
		w.descs[desc.Digest] = desc
		w.stats.Blobs++
		w.stats.Bytes += desc.Size
	}
	w.mu.Unlock()
	close(call.done)
	return call.err
}

func (w *Writer) push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	isManifest := isManifestType(desc.MediaType)
	if isManifest && desc.Size > maxManifestBytes {
		return fmt.Errorf("archive: manifest %s is %d bytes, above %d: %w", desc.Digest, desc.Size, maxManifestBytes, errdef.ErrSizeExceedsLimit)
	}
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	bw, err := w.fw.Blob(desc.Digest, desc.Size)
	if err != nil {
		return fmt.Errorf("archive: push %s: %w", desc.Digest, err)
	}
	if isCompressedLayer(desc.MediaType) {
		bw.HintIncompressible() // no compression attempt on its first chunk
	}
	var keep *bytes.Buffer
	src := io.Reader(&ctxReader{ctx: ctx, r: r})
	if isManifest {
		keep = bytes.NewBuffer(make([]byte, 0, desc.Size))
		src = io.TeeReader(src, keep)
	}
	if _, err := bw.ReadFrom(src); err != nil {
		bw.Abort()
		return fmt.Errorf("archive: push %s: %w", desc.Digest, err)
	}
	if isManifest {
		if err := checkManifest(desc, keep.Bytes()); err != nil {
			bw.Abort()
			return err
		}
	}
	if err := bw.Commit(); err != nil {
		if errors.Is(err, format.ErrDigest) || errors.Is(err, format.ErrSize) {
			return fmt.Errorf("archive: push %s: content does not match its descriptor: %w", desc.Digest, err)
		}
		return fmt.Errorf("archive: push %s: %w", desc.Digest, err)
	}
	if isManifest {
		w.mu.Lock()
		w.manifests[desc.Digest] = keep.Bytes()
		w.mu.Unlock()
	}
	return nil
}

// isCompressedLayer reports whether mediaType is a gzip or zstd layer, whose
// bytes zstd cannot shrink.
func isCompressedLayer(mediaType string) bool {
	return strings.HasSuffix(mediaType, "gzip") || strings.HasSuffix(mediaType, "+zstd")
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Fetch serves manifests pushed to this writer (oras.Copy may read them back).
func (w *Writer) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	w.mu.Lock()
	b, ok := w.manifests[desc.Digest]
	w.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("archive: %s: %w (an archive being written serves only its manifests)", desc.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Tag records that desc was packed from reference ref (for example
// "quay.io/org/app:1.2"). The descriptor becomes a root of the archive.
func (w *Writer) Tag(ctx context.Context, desc ocispec.Descriptor, ref string) error {
	if err := format.ValidateDigest(desc.Digest); err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("archive: tag %s: empty reference", desc.Digest)
	}
	// What readers refuse (checkText) is refused here, for that image.
	if !printable(ref) || !printable(desc.MediaType) || !printable(desc.ArtifactType) {
		return fmt.Errorf("%w: archive: tag %s as %q (media type %q): a control or non-printing character", format.ErrMalformed, desc.Digest, ref, desc.MediaType)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.manifests[desc.Digest]; !ok && !w.inBase(desc.Digest) {
		return fmt.Errorf("archive: tag %s as %q: %w", desc.Digest, ref, errdef.ErrNotFound)
	}
	if i, ok := w.rootIdx[desc.Digest]; ok {
		if !slices.Contains(w.roots[i].References, ref) {
			w.roots[i].References = append(w.roots[i].References, ref)
		}
	} else {
		w.rootIdx[desc.Digest] = len(w.roots)
		w.roots = append(w.roots, format.Root{Descriptor: plainDescriptor(desc), References: []string{ref}})
	}
	w.refs[ref] = desc
	return nil
}

// Resolve returns the descriptor tagged ref.
func (w *Writer) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.refs[ref]; ok {
		return d, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("archive: %s: %w", ref, errdef.ErrNotFound)
}

// Attach adds a named blob that is not OCI content (an update graph, a
// signature) to the archive.
func (w *Writer) Attach(ctx context.Context, name, mediaType string, data []byte) error {
	if !printable(name) || !printable(mediaType) {
		return fmt.Errorf("%w: archive: attachment %q (media type %q): a control or non-printing character", format.ErrMalformed, name, mediaType)
	}
	d := digest.FromBytes(data)
	if err := w.Push(ctx, ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, bytes.NewReader(data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attach = append(w.attach, format.Attachment{Name: name, MediaType: mediaType, Digest: d, Size: int64(len(data))})
	return nil
}

// plainDescriptor keeps what identifies content.
func plainDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType, Platform: d.Platform, Annotations: d.Annotations}
}

// Close writes the manifest and index, syncs every volume and renames them
// into place, the final volume last. Until then nothing in the directory
// looks like a complete archive. Prerequisites are every descriptor that a
// root or a packed manifest refers to and the archive does not contain.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return format.ErrClosed
	}
	w.closed = true
	prereqs, err := w.prerequisites()
	m := &format.Manifest{Roots: append([]format.Root(nil), w.roots...), Attachments: w.attach}
	if err == nil {
		isPrereq := make(map[digest.Digest]bool, len(prereqs))
		for _, p := range prereqs {
			isPrereq[p.Digest] = true
		}
		for i, r := range m.Roots {
			m.Roots[i].Omitted = w.omittedOf(r.Descriptor.Digest, isPrereq)
		}
	}
	w.mu.Unlock()
	defer w.lock.unlock()
	if err != nil {
		w.discard()
		return err
	}
	m.Lineage, m.Sequence = w.lineage()
	if len(w.opts.bases) > 0 {
		m.Delta = &format.Delta{Prerequisites: prereqs, Bases: []format.Base{}}
		for _, b := range w.opts.bases {
			m.Delta.Bases = append(m.Delta.Bases, format.Base{Kind: b.Kind, Archive: b.Archive, Digest: b.Digest, Lineage: b.Lineage, Sequence: b.Sequence})
		}
	} else if len(prereqs) > 0 {
		w.discard()
		return fmt.Errorf("archive: %d referenced blobs are neither packed nor in a base (first %s)", len(prereqs), prereqs[0].Digest)
	}
	if err := w.fw.Close(m); err != nil {
		w.discard()
		return fmt.Errorf("archive: %w", err)
	}
	w.volMu.Lock()
	vols := append([]string(nil), w.volumes...)
	w.volMu.Unlock()
	for i, p := range vols {
		if err := os.Rename(p, filepath.Join(w.dir, VolumeName(uint32(i+1)))); err != nil {
			return fmt.Errorf("archive: finish %s: %w", w.dir, err)
		}
		if i == len(vols)-2 {
			// Make every other volume durable before the final one
			// appears.
			if err := fsutil.SyncDir(w.dir); err != nil {
				return fmt.Errorf("archive: sync %s: %w", w.dir, err)
			}
		}
	}
	return fsutil.SyncDir(w.dir)
}

// Abort abandons the archive and removes its temporary volumes.
func (w *Writer) Abort() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	w.fw.Close(&format.Manifest{Roots: nil}) // ends the current volume; its error is moot
	w.discard()
	w.lock.unlock()
}

func (w *Writer) discard() {
	w.volMu.Lock()
	defer w.volMu.Unlock()
	for _, p := range w.volumes {
		os.Remove(p)
	}
}

func (w *Writer) lineage() (string, uint64) {
	if w.opts.lineage != "" {
		return w.opts.lineage, w.opts.sequence
	}
	var best *Base
	for _, b := range w.opts.bases {
		if b.Lineage != "" && (best == nil || b.Sequence > best.Sequence) {
			best = b
		}
	}
	if best != nil {
		return best.Lineage, best.Sequence + 1
	}
	return w.id.String(), 1
}

// prerequisites walks from the roots through the packed manifests. Called
// with w.mu held.
func (w *Writer) prerequisites() ([]format.Prerequisite, error) {
	var out []format.Prerequisite
	seen := map[digest.Digest]bool{}
	var visit func(d ocispec.Descriptor, depth int) error
	visit = func(d ocispec.Descriptor, depth int) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		b, packed := w.manifests[d.Digest]
		if !packed {
			if w.fw.Has(d.Digest) || IsForeignLayer(d) {
				return nil
			}
			p := format.Prerequisite{Descriptor: plainDescriptor(d)}
			for _, base := range w.opts.bases {
				if base.Has(d.Digest) {
					p.ProvidedBy = base.provider()
					break
				}
			}
			out = append(out, p)
			return nil
		}
		if depth > MaxGraphDepth {
			// A reader would refuse it (Open's graph walk): never write it.
			return tooDeep(d.Digest)
		}
		succ, err := content.Successors(context.Background(), bytesFetcher(b), d)
		if err != nil {
			return fmt.Errorf("archive: manifest %s: %w", d.Digest, err)
		}
		for _, s := range succ {
			if w.omitted(d.Digest, s.Digest) {
				continue // left out on purpose (Omit): neither content nor a prerequisite
			}
			if err := visit(s, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range w.roots {
		if err := visit(r.Descriptor, 0); err != nil {
			return nil, err
		}
	}
	// Manifests packed without a tag of their own (referrers copied with
	// their subject) become roots without references, so a reader finds
	// them; their graphs are walked too.
	var extra []digest.Digest
	for d := range w.manifests {
		if !seen[d] {
			extra = append(extra, d)
		}
	}
	slices.Sort(extra)
	for _, d := range extra {
		if seen[d] {
			continue // reached from an earlier extra root (index of referrers)
		}
		desc := w.descs[d]
		if desc.Digest == "" {
			b := w.manifests[d]
			desc = ocispec.Descriptor{Digest: d, Size: int64(len(b)), MediaType: mediaTypeOf(b)}
		}
		w.roots = append(w.roots, format.Root{Descriptor: plainDescriptor(desc)})
		if err := visit(desc, 0); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b format.Prerequisite) int { return compareStrings(string(a.Digest), string(b.Digest)) })
	return out, nil
}

// omitted reports whether the copies of index leave child out and the
// archive does not hold it. Called with w.mu held.
func (w *Writer) omitted(index, child digest.Digest) bool {
	return slices.ContainsFunc(w.omit[index], func(c ocispec.Descriptor) bool { return c.Digest == child }) && !w.fw.Has(child)
}

// bytesFetcher serves one manifest's bytes to content.Successors.
type bytesFetcher []byte

func (b bytesFetcher) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b)), nil
}

func mediaTypeOf(b []byte) string {
	var v struct {
		MediaType string `json:"mediaType"`
	}
	json.Unmarshal(b, &v)
	return v.MediaType
}
