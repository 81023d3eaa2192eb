package mirror

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// dryRunDest plans without copying: it walks each image's graph on the
// source and reports what would move and what would be skipped.
type dryRunDest struct {
	opts  PackOptions
	bases []*archive.Base
	mu    sync.Mutex
	lines []string
}

func newDryRunDest(opts PackOptions) (*dryRunDest, error) {
	d := &dryRunDest{opts: opts}
	for _, p := range opts.Bases {
		b, err := archive.LoadBase(p)
		if err != nil {
			return nil, err
		}
		d.bases = append(d.bases, b)
	}
	return d, nil
}

func (d *dryRunDest) target(ctx context.Context, m imageset.Mapping, _ content.Fetcher) (oras.Target, string, error) {
	return &planTarget{d: d, m: m, start: time.Now()}, m.Source.String(), nil
}
func (d *dryRunDest) skipReason(ocispec.Descriptor) SkipReason { return SkipInBase }
func (d *dryRunDest) mountFrom(string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return nil
}
func (d *dryRunDest) abort() {}

// deliver lists the attachments an archive would carry.
func (d *dryRunDest) deliver(ctx context.Context, dl *section.Delivery) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range dl.Attachments {
		d.lines = append(d.lines, fmt.Sprintf("attach %s (%d bytes)", a.Name, len(a.Data)))
	}
	return nil
}
func (d *dryRunDest) finish(ctx context.Context, res *Result) error {
	slices.Sort(d.lines)
	res.Plan = d.lines
	return nil
}

func (d *dryRunDest) inBase(dg digest.Digest) bool {
	for _, b := range d.bases {
		if b.Has(dg) {
			return true
		}
	}
	return false
}

// planTarget accepts nothing: Exists answers from the bases, Push drains
// manifests (so their children are walked) and counts blobs without reading
// them.
type planTarget struct {
	d     *dryRunDest
	m     imageset.Mapping
	start time.Time

	mu        sync.Mutex
	manifests map[digest.Digest][]byte
	blobs     int
	bytes     int64
	skipped   int
	skippedB  int64
}

func (p *planTarget) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d.inBase(desc.Digest) {
		p.skipped++
		p.skippedB += desc.Size
		return true, nil
	}
	if isManifest(desc.MediaType) {
		return false, nil // fetched, so that its children are walked
	}
	// A blob that would be copied: counted, never downloaded.
	p.blobs++
	p.bytes += desc.Size
	return true, nil
}

func (p *planTarget) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.manifests == nil {
		p.manifests = map[digest.Digest][]byte{}
	}
	if isManifest(desc.MediaType) {
		b, err := io.ReadAll(io.LimitReader(r, 4<<20))
		if err != nil {
			return err
		}
		p.manifests[desc.Digest] = b
	}
	p.blobs++
	p.bytes += desc.Size
	return nil
}

func (p *planTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p.mu.Lock()
	b, ok := p.manifests[desc.Digest]
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dry run: %s not fetched", desc.Digest)
	}
	return io.NopCloser(strings.NewReader(string(b))), nil
}

func (p *planTarget) Tag(ctx context.Context, desc ocispec.Descriptor, ref string) error {
	p.mu.Lock()
	line := fmt.Sprintf("%s -> %s  %s: %d blobs, %s to copy; %d blobs, %s skipped (in a base)",
		p.m.Source, p.m.Destination, desc.Digest, p.blobs, progress.HumanBytes(p.bytes), p.skipped, progress.HumanBytes(p.skippedB))
	p.mu.Unlock()
	p.d.mu.Lock()
	p.d.lines = append(p.d.lines, line)
	p.d.mu.Unlock()
	return nil
}

func (p *planTarget) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("dry run: nothing to resolve")
}
