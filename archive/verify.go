package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/format"
)

// Verify reads every byte of the archive in dir and checks everything the
// format allows: volume names, headers, footers, every chunk checksum, every
// blob digest, the index and the manifest. It reports all problems it finds,
// not only the first. The error is for failures to even start (no archive,
// unreadable index); problems with content are in the report.
func Verify(dir string, opts ...OpenOption) (*format.VerifyReport, *Reader, error) {
	return VerifyContext(context.Background(), dir, opts...)
}

// VerifyContext is Verify that stops as soon as ctx is done: the reads
// fail, and ctx's error is returned (with no report).
func VerifyContext(ctx context.Context, dir string, opts ...OpenOption) (*format.VerifyReport, *Reader, error) {
	rep, r, err := verifyDir(ctx, dir, opts...)
	if ctx.Err() != nil {
		if r != nil {
			r.Close()
		}
		return nil, nil, fmt.Errorf("archive: verify %s: %w", dir, ctx.Err())
	}
	return rep, r, err
}

func verifyDir(ctx context.Context, dir string, opts ...OpenOption) (*format.VerifyReport, *Reader, error) {
	r, err := Open(dir, opts...)
	if err != nil {
		var ve *VolumeError
		if !errors.As(err, &ve) {
			return nil, nil, err
		}
		// Volume problems: open what can be opened and read everything
		// anyway, so the report is complete.
		r2, err2 := Open(dir, append(opts, WithIndexOnly())...)
		if err2 != nil {
			return nil, nil, err
		}
		rep := verifyReader(ctx, r2)
		for _, p := range ve.Problems {
			rep.Problems = append([]error{fmt.Errorf("%w: %s", ve.Err, p)}, rep.Problems...)
		}
		return rep, r2, nil
	}
	return verifyReader(ctx, r), r, nil
}

// ctxFile fails its reads once ctx is done, so that a verify of hundreds of
// GB stops at the first Ctrl-C.
type ctxFile struct {
	ctx context.Context
	*os.File
}

func (f ctxFile) Read(b []byte) (int, error) {
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	return f.File.Read(b)
}

func verifyReader(ctx context.Context, r *Reader) *format.VerifyReport {
	rep := r.arch.Verify(func(n uint32) (io.ReadCloser, int64, error) {
		p := filepath.Join(r.dir, VolumeName(n))
		f, err := os.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
		if err != nil {
			return nil, 0, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		var rc io.ReadCloser = ctxFile{ctx, f}
		if fn := r.opts.onRead; fn != nil {
			rc = &readCounter{ReadCloser: rc, fn: fn}
		}
		if fn := r.opts.reads; fn != nil {
			rc = &volumeReads{ReadCloser: rc, volume: n, fn: fn}
		}
		return rc, info.Size(), nil
	})
	if rep.OK() {
		// Every byte is sound: now what the manifests say.
		if err := r.CheckGraph(ctx); err != nil {
			rep.Problems = append(rep.Problems, err)
		}
	}
	return rep
}

// readCounter reports the bytes read from a volume (WithReadProgress).
type readCounter struct {
	io.ReadCloser
	fn func(int64)
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.fn(int64(n))
	}
	return n, err
}

// volumeReads reports each read of a volume read front to back
// (WithVolumeReads).
type volumeReads struct {
	io.ReadCloser
	volume uint32
	off    int64
	fn     func(volume uint32, off, n int64)
}

func (c *volumeReads) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.fn(c.volume, c.off, int64(n))
		c.off += int64(n)
	}
	return n, err
}

// Missing is a prerequisite the destination does not hold.
type Missing struct {
	Descriptor ocispec.Descriptor
	// NeededBy are the references of the roots that need it.
	NeededBy []string
	// ProvidedBy names the base the archive was cut against that holds it
	// ("archive:<id>" or "receipt:<digest>"): apply that first.
	ProvidedBy string
}

func (m Missing) String() string {
	s := fmt.Sprintf("%s (%d bytes)", m.Descriptor.Digest, m.Descriptor.Size)
	if len(m.NeededBy) > 0 {
		s += fmt.Sprintf(", needed by %v", m.NeededBy)
	}
	if m.ProvidedBy != "" {
		s += ", provided by " + m.ProvidedBy
	}
	return s
}

// ExistsFunc reports whether the destination holds desc for the root with
// the given reference (a destination may check the repository the root will
// be pushed to, and others it could mount from).
type ExistsFunc func(ctx context.Context, root format.Root, desc ocispec.Descriptor) (bool, error)

// Preflight checks, before anything is written, that the destination holds
// every prerequisite of the archive that the selected roots need. select
// chooses roots (nil: all). It returns what is missing, each with the roots
// that need it and the archive that would provide it.
func Preflight(ctx context.Context, r *Reader, exists ExistsFunc, selectRoot func(format.Root) bool) ([]Missing, error) {
	d := r.Delta()
	if d == nil || len(d.Prerequisites) == 0 {
		return nil, nil
	}
	prereq := map[digest.Digest]format.Prerequisite{}
	for _, p := range d.Prerequisites {
		prereq[p.Digest] = p
	}
	var missing []Missing
	idx := map[digest.Digest]int{}
	for _, root := range r.Roots() {
		if selectRoot != nil && !selectRoot(root) {
			continue
		}
		needs, err := r.reachablePrereqs(ctx, root.Descriptor, prereq)
		if err != nil {
			return nil, err
		}
		for _, p := range needs {
			ok, err := exists(ctx, root, p.Descriptor)
			if err != nil {
				return nil, fmt.Errorf("archive: preflight: check %s at the destination: %w", p.Digest, err)
			}
			if ok {
				continue
			}
			if i, seen := idx[p.Digest]; seen {
				missing[i].NeededBy = append(missing[i].NeededBy, root.References...)
				continue
			}
			idx[p.Digest] = len(missing)
			missing = append(missing, Missing{Descriptor: p.Descriptor, NeededBy: append([]string(nil), root.References...), ProvidedBy: p.ProvidedBy})
		}
	}
	return missing, nil
}

// reachablePrereqs returns the prerequisites reachable from root.
func (r *Reader) reachablePrereqs(ctx context.Context, root ocispec.Descriptor, prereq map[digest.Digest]format.Prerequisite) ([]format.Prerequisite, error) {
	var out []format.Prerequisite
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, depth int) error
	walk = func(d ocispec.Descriptor, depth int) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if p, ok := prereq[d.Digest]; ok {
			out = append(out, p)
			return nil
		}
		if !isManifestType(d.MediaType) {
			return nil
		}
		if depth > MaxGraphDepth {
			return tooDeep(d.Digest)
		}
		succ, err := r.Successors(ctx, d)
		if err != nil {
			return fmt.Errorf("archive: read manifest %s: %w", d.Digest, err)
		}
		for _, s := range succ {
			if err := walk(s, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root, 0)
}
