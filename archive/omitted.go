package archive

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/format"
)

// Omit records that the copy of index being written leaves children out on
// purpose (a sparse copy of some platforms: spec/FORMAT.md 7.3.1). Call it
// before the index is copied, for every index copied into the archive
// (children nil for a full copy): when several copies of one index disagree,
// what none of them leaves out is carried. At Close, the root of index
// records the children that the archive neither holds nor lists as
// prerequisites.
//
// Omit also decides whether a base holding index only sparsely (a receipt
// or a base archive that recorded omitted children) makes the copy
// unnecessary: it does when the base lacks nothing the copy wants (see
// Exists).
func (w *Writer) Omit(index ocispec.Descriptor, children []ocispec.Descriptor) error {
	if !isIndexType(index.MediaType) {
		return fmt.Errorf("archive: omit children of %s: not an image index (%s)", index.Digest, index.MediaType)
	}
	if len(children) > format.MaxOmittedPerRoot {
		return fmt.Errorf("archive: index %s: %d children left out, above %d", index.Digest, len(children), format.MaxOmittedPerRoot)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, seen := w.omit[index.Digest]
	if !seen {
		w.omit[index.Digest] = slices.Clone(children)
		return nil
	}
	// Left out only if every copy leaves it out.
	w.omit[index.Digest] = slices.DeleteFunc(prev, func(p ocispec.Descriptor) bool {
		return !slices.ContainsFunc(children, func(c ocispec.Descriptor) bool { return c.Digest == p.Digest })
	})
	return nil
}

// HeldSparsely reports whether a base holds index d without children that
// the copies announced by Omit want: a copy must then go through d (Exists
// answers false for it), and must reach it directly, not only through a
// referrer of d that the base holds whole.
func (w *Writer) HeldSparsely(d digest.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	sparse, enough := w.sparseInBase(d)
	return sparse && !enough
}

// sparseInBase reports whether a base holds index d only without some of
// its children, and whether this archive's copies of d all leave those out
// too (then the base holds everything the copies want). Called with w.mu
// held.
func (w *Writer) sparseInBase(d digest.Digest) (sparse, enough bool) {
	var absent []digest.Digest
	for _, b := range w.opts.bases {
		o, ok := b.omitted[d]
		if !ok {
			if b.Has(d) {
				return false, false // a base holds it whole
			}
			continue
		}
		sparse = true
		absent = append(absent, o...)
	}
	if !sparse {
		return false, false
	}
	want, ok := w.omit[d]
	if !ok {
		return true, false
	}
	for _, a := range absent {
		if !slices.ContainsFunc(want, func(c ocispec.Descriptor) bool { return c.Digest == a }) && !w.inBase(a) {
			return true, false
		}
	}
	return true, true
}

// lacksChildren reports whether index d, packed by a sparse copy, lacks a
// child that no copy announced by Omit leaves out any more (a whole copy of
// the same index came later): that copy must go through the index to
// carry it.
func (w *Writer) lacksChildren(ctx context.Context, d digest.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.omit[d]; !ok {
		return false
	}
	b, ok := w.manifests[d]
	if !ok {
		return false
	}
	succ, err := content.Successors(ctx, bytesFetcher(b), w.descs[d])
	if err != nil {
		return false
	}
	for _, s := range succ {
		if !w.fw.Has(s.Digest) && !w.inBase(s.Digest) && !w.omitted(d, s.Digest) {
			return true
		}
	}
	return false
}

// omittedOf returns the children a root index leaves out at Close: those
// Omit recorded that the archive neither holds nor needs from a base.
// Called with w.mu held, after prerequisites.
func (w *Writer) omittedOf(d digest.Digest, prereqs map[digest.Digest]bool) []ocispec.Descriptor {
	if _, packed := w.manifests[d]; !packed {
		return nil
	}
	var out []ocispec.Descriptor
	for _, c := range w.omit[d] {
		if !w.fw.Has(c.Digest) && !prereqs[c.Digest] && c.Digest != d &&
			!slices.ContainsFunc(out, func(o ocispec.Descriptor) bool { return o.Digest == c.Digest }) {
			out = append(out, plainDescriptor(c))
		}
	}
	return out
}

// Omitted returns the children of index d that the archive leaves out on
// purpose (spec/FORMAT.md 7.3.1), as its roots record them; nil for any
// other digest.
func (r *Reader) Omitted(d digest.Digest) []ocispec.Descriptor {
	r.omittedOnce.Do(func() {
		r.omitted = map[digest.Digest][]ocispec.Descriptor{}
		for _, root := range r.Roots() {
			if len(root.Omitted) > 0 {
				r.omitted[root.Descriptor.Digest] = append(r.omitted[root.Descriptor.Digest], root.Omitted...)
			}
		}
	})
	return r.omitted[d]
}

// Successors returns the successors of desc in the archive's graph: those
// its content lists (as content.Successors reads them), less the children
// the archive omits on purpose.
func (r *Reader) Successors(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	succ, err := content.Successors(ctx, r, desc)
	if err != nil {
		return nil, err
	}
	return r.withoutOmitted(desc.Digest, succ), nil
}

// withoutOmitted drops from succ, the successors of d, what the archive
// omits of d's children.
func (r *Reader) withoutOmitted(d digest.Digest, succ []ocispec.Descriptor) []ocispec.Descriptor {
	o := r.Omitted(d)
	if len(o) == 0 {
		return succ
	}
	return slices.DeleteFunc(succ, func(s ocispec.Descriptor) bool {
		return slices.ContainsFunc(o, func(x ocispec.Descriptor) bool { return x.Digest == s.Digest })
	})
}

// checkOmittedListed refuses an index whose root omits a digest its
// content does not list (spec/FORMAT.md 7.3.1 rule 3); succ are the
// index's successors as its content lists them.
func (r *Reader) checkOmittedListed(d digest.Digest, succ []ocispec.Descriptor) error {
	for _, o := range r.Omitted(d) {
		if !slices.ContainsFunc(succ, func(s ocispec.Descriptor) bool { return s.Digest == o.Digest }) {
			return fmt.Errorf("%w: archive: index %s is recorded as omitting %s, which it does not list", format.ErrMalformed, d, o.Digest)
		}
	}
	return nil
}
