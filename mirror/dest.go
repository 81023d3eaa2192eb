package mirror

import (
	"context"
	"fmt"
	"strings"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// packDest is where Pack copies to.
type packDest interface {
	// target returns the oras target for a mapping, whose content comes
	// from src, and the tag (or reference) to record.
	target(ctx context.Context, m imageset.Mapping, src content.Fetcher) (oras.Target, string, error)
	// skipReason says why dst already holds desc.
	skipReason(desc ocispec.Descriptor) SkipReason
	mountFrom(repo string) func(ctx context.Context, desc ocispec.Descriptor) ([]string, error)
	// deliver gives the destination what a kind returns besides images.
	deliver(ctx context.Context, d *section.Delivery) error
	finish(ctx context.Context, res *Result) error
	abort()
}

// archiveDest packs into an archive.
type archiveDest struct {
	opts PackOptions
	w    *archive.Writer
}

func newArchiveDest(opts PackOptions) (*archiveDest, error) {
	aopts := []archive.CreateOption{archive.WithLogger(opts.Log)}
	if opts.VolumeSize != 0 {
		aopts = append(aopts, archive.WithVolumeSize(opts.VolumeSize))
	}
	if opts.ChunkSize != 0 {
		aopts = append(aopts, archive.WithChunkSize(opts.ChunkSize))
	}
	if opts.Compression != 0 {
		aopts = append(aopts, archive.WithCompression(opts.Compression))
	}
	for _, b := range opts.Bases {
		aopts = append(aopts, archive.WithBasePath(b))
	}
	w, err := archive.Create(opts.Archive, aopts...)
	if err != nil {
		return nil, err
	}
	return &archiveDest{opts: opts, w: w}, nil
}

func (a *archiveDest) target(ctx context.Context, m imageset.Mapping, _ content.Fetcher) (oras.Target, string, error) {
	return a.w, m.Source.String(), nil
}

func (a *archiveDest) skipReason(desc ocispec.Descriptor) SkipReason {
	if a.w.InBase(desc.Digest) {
		return SkipInBase
	}
	return SkipAtDestination
}

func (a *archiveDest) mountFrom(string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return nil
}
func (a *archiveDest) abort() { a.w.Abort() }

// deliver attaches the attachments; built images are rebuilt at unpack
// from what the archive carries.
func (a *archiveDest) deliver(ctx context.Context, d *section.Delivery) error {
	for _, at := range d.Attachments {
		if err := a.w.Attach(ctx, at.Name, at.MediaType, at.Data); err != nil {
			return fmt.Errorf("attach %s: %w", at.Name, err)
		}
	}
	return nil
}

func (a *archiveDest) finish(ctx context.Context, res *Result) error {
	if err := a.w.Close(); err != nil {
		return err
	}
	r, err := archive.Open(a.opts.Archive)
	if err != nil {
		return fmt.Errorf("reopen the archive just written: %w", err)
	}
	defer r.Close()
	if a.opts.SignKey != "" {
		key, err := archive.LoadPrivateKey(a.opts.SignKey)
		if err != nil {
			return classed(ErrUsage, err)
		}
		if err := archive.Sign(a.opts.Archive, r, key); err != nil {
			return err
		}
	}
	res.ArchiveDir, res.ArchiveID, res.ArchiveDigest, res.Volumes = a.opts.Archive, r.ID().String(), r.Digest(), len(r.Volumes())
	return nil
}

// registryDest copies into a registry (mirror to mirror).
type registryDest struct {
	opts   PackOptions
	client *ocistore.Client
	root   string

	idx    *repoIndex // what this run pushed where
	ledger *ledger
	// resources are the kinds' cluster resources, written at finish.
	resources []clusterres.Resource
}

func newRegistryDest(opts PackOptions, l *ledger) (*registryDest, error) {
	c, err := ocistore.NewClient(opts.Dest)
	if err != nil {
		return nil, err
	}
	return &registryDest{opts: opts, client: c, root: strings.TrimSuffix(opts.Registry, "/"), idx: newRepoIndex(), ledger: l}, nil
}

func (r *registryDest) target(ctx context.Context, m imageset.Mapping, src content.Fetcher) (oras.Target, string, error) {
	ref, err := m.Destination.Under(r.root)
	if err != nil {
		return nil, "", err
	}
	repo, err := r.client.Repository(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	tag := ref.Tag
	if tag == "" {
		tag = imageset.DigestTag(ref.Digest)
	}
	return &repoTarget{Repository: repo, idx: r.idx, repo: ref.Repository, open: openAt(src), ledger: r.ledger}, tag, nil
}

// mountFrom offers the other repositories this run pushed a blob to.
func (r *registryDest) mountFrom(repo string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return r.idx.mountFrom(repo)
}

func (r *registryDest) skipReason(ocispec.Descriptor) SkipReason {
	return SkipAtDestination
}

// deliver pushes the built images and keeps the cluster resources for
// finish; a registry has no place for attachments.
func (r *registryDest) deliver(ctx context.Context, d *section.Delivery) error {
	r.resources = append(r.resources, d.Resources...)
	for _, img := range d.Images {
		ref, err := ocistore.ParseReference(r.root + "/" + img.Repository + ":" + img.Tag)
		if err != nil {
			return err
		}
		repo, err := r.client.Repository(ctx, ref)
		if err != nil {
			return err
		}
		if err := img.Push(ctx, repo, img.Tag); err != nil {
			return fmt.Errorf("built image %s: %w", ref, err)
		}
	}
	return nil
}

func (r *registryDest) abort() { r.client.Close() }

// finish writes the cluster resources the kinds delivered, all at once
// (two kinds never write one file), into opts.ClusterResources.
func (r *registryDest) finish(_ context.Context, res *Result) error {
	r.client.Close()
	if len(r.resources) == 0 {
		return nil
	}
	paths, err := clusterres.WriteDir(r.opts.ClusterResources, r.resources...)
	res.ClusterResources = paths
	if err != nil {
		return fmt.Errorf("cluster resources: %w", err)
	}
	return nil
}
