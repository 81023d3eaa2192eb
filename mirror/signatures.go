package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ref"
)

// Cosign tags. Where a registry has no referrers API (and by default in
// cosign 2), cosign stores what it attaches to an image as tags of the
// image's repository named after the image's digest: sha256-<hex>.sig
// (signatures), .att (in-toto attestations) and .sbom. They travel with
// their image: pack looks them up for the image's digest and, below an
// index, for each manifest it lists; the archive records each as a root
// with the reference it was found under (quay.io/org/app:sha256-<hex>.sig);
// unpack places it in its subject's destination repository under the same
// tag, after the subject. spec/FORMAT.md (section 7.8) states the
// convention.

// cosignSuffixes are the cosign tag kinds, by their suffix.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// cosignTag is the tag cosign gives what it attaches to d, for a suffix of
// cosignSuffixes.
func cosignTag(d digest.Digest, suffix string) string {
	return string(d.Algorithm()) + "-" + d.Encoded() + suffix
}

// cosignSubject returns the digest a cosign tag is named after, and false
// for any other tag.
func cosignSubject(tag string) (digest.Digest, bool) {
	for _, s := range cosignSuffixes {
		if rest, ok := strings.CutSuffix(tag, s); ok {
			alg, hex, ok := strings.Cut(rest, "-")
			if !ok {
				return "", false
			}
			d, err := ref.ParseDigest(alg + ":" + hex)
			return d, err == nil
		}
	}
	return "", false
}

// cosignKind names what a cosign tag holds, for people.
func cosignKind(tag string) string {
	switch {
	case strings.HasSuffix(tag, ".sig"):
		return "signature"
	case strings.HasSuffix(tag, ".att"):
		return "attestation"
	default:
		return "SBOM"
	}
}

// Media types that make a referrer a signature (left behind by
// --remove-signatures): cosign's OCI 1.1 signatures, Sigstore bundles,
// Notary Project signatures, and cosign's simple-signing payload layer.
const (
	cosignSigArtifact = "application/vnd.dev.cosign.artifact.sig.v1+json"
	sigstoreBundle    = "application/vnd.dev.sigstore.bundle"
	notarySignature   = "application/vnd.cncf.notary.signature"
	simpleSigning     = "application/vnd.dev.cosign.simplesigning.v1+json"
)

// isSignatureManifest reports whether a referrer's manifest is a
// signature, by its artifactType, its config's media type or a layer's.
func isSignatureManifest(b []byte) bool {
	var m struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	sig := func(mt string) bool {
		return mt == cosignSigArtifact || mt == notarySignature || mt == simpleSigning || strings.HasPrefix(mt, sigstoreBundle)
	}
	if sig(m.ArtifactType) || sig(m.Config.MediaType) {
		return true
	}
	for _, l := range m.Layers {
		if sig(l.MediaType) {
			return true
		}
	}
	return false
}

// isSignatureReferrer reads desc from f and reports whether it is a
// signature; content that cannot be read is not one.
func isSignatureReferrer(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) bool {
	if !isManifest(desc.MediaType) || desc.Size > maxManifestBytes {
		return false
	}
	b, err := content.FetchAll(ctx, f, desc)
	return err == nil && isSignatureManifest(b)
}

// signedManifests returns root and, below an index, every manifest it
// lists (nested indexes too, archive.MaxGraphDepth levels at most): the
// digests cosign tags are named after. An index that cannot be read (a
// prerequisite of a delta) is listed without its children.
func signedManifests(ctx context.Context, f content.Fetcher, root ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, depth int)
	walk = func(d ocispec.Descriptor, depth int) {
		if seen[d.Digest] || !isManifest(d.MediaType) {
			return
		}
		seen[d.Digest] = true
		out = append(out, d)
		if !isIndexType(d.MediaType) || depth >= archive.MaxGraphDepth || d.Size > maxManifestBytes {
			return
		}
		b, err := content.FetchAll(ctx, f, d)
		if err != nil {
			return
		}
		var idx ocispec.Index
		if json.Unmarshal(b, &idx) != nil {
			return
		}
		for _, m := range idx.Manifests {
			walk(m, depth+1)
		}
	}
	walk(root, 0)
	return out
}

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// tagOfResolver looks a tag named after a digest up where content by
// digest is (ocistore.SourceTarget: through registries.conf mirrors).
type tagOfResolver interface {
	ResolveTagOf(ctx context.Context, subject digest.Digest, tag string) (ocispec.Descriptor, error)
}

// packSignatures copies the cosign tags of root (and of the manifests an
// index lists) that the source has, after root was copied and tagged: each
// is copied like an image, to the mapping's destination repository under
// its own tag (in an archive: a root recorded as <source repository>:<tag>).
// lookup finds the tags (through registries.conf mirrors for a registry
// source); src is what their content is read from. A tag that is absent is
// normal; one that does not name a manifest is reported and skipped; any
// other failure to look one up fails the image, which would otherwise
// reach a cluster enforcing signatures without them.
func packSignatures(ctx context.Context, lookup, src oras.ReadOnlyGraphTarget, dst packDest, m imageset.Mapping, root ocispec.Descriptor, s copySettings) error {
	resolve := func(ctx context.Context, subject digest.Digest, tag string) (ocispec.Descriptor, error) {
		if r, ok := lookup.(tagOfResolver); ok {
			return r.ResolveTagOf(ctx, subject, tag)
		}
		return lookup.Resolve(ctx, tag)
	}
	one := func(ctx context.Context, subject digest.Digest, suffix string) error {
		tag := cosignTag(subject, suffix)
		desc, err := resolve(ctx, subject, tag)
		if ocistore.Classify(err) == ocistore.KindNotFound {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up %s %s: %w (--remove-signatures leaves signatures behind)", cosignKind(tag), tag, err)
		}
		if !isManifest(desc.MediaType) || desc.Size > maxManifestBytes {
			s.ledger.Logf("%s:%s is %s (%d bytes), not a manifest: skipped", m.Source.Name(), tag, desc.MediaType, desc.Size)
			return nil
		}
		sm := m
		sm.Source.Tag, sm.Source.Digest = tag, ""
		sm.Destination.Tag, sm.Destination.Digest = tag, ""
		target, name, err := dst.target(ctx, sm, src)
		if err != nil {
			return err
		}
		if err := copyGraph(ctx, src, target, desc, s); err != nil {
			return fmt.Errorf("%s %s: %w", cosignKind(tag), tag, err)
		}
		if err := target.Tag(ctx, desc, name); err != nil {
			return fmt.Errorf("tag %s: %w", name, err)
		}
		return nil
	}
	// Most tags are absent: the look-ups (three a manifest) run
	// concurrently, as many at once as blobs of an image.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.concurrency, 1))
	for _, subject := range signedManifests(ctx, src, root) { // src: the run's manifest cache
		for _, suffix := range cosignSuffixes {
			g.Go(func() error { return one(gctx, subject.Digest, suffix) })
		}
	}
	return g.Wait()
}

// attachedTag is a cosign tag an archive carries: a root recorded under the
// reference repo:tag, placed with its subject.
type attachedTag struct {
	repo    string // the source repository, "quay.io/org/app"
	tag     string
	subject digest.Digest
	desc    ocispec.Descriptor
}

// ref is the reference the tag was packed from.
func (a attachedTag) ref() string { return a.repo + ":" + a.tag }

// splitAttached separates the cosign tags an archive carries from the
// roots the kinds place: a reference repo:sha256-<hex>.sig (.att, .sbom)
// is a cosign tag when the archive carries an image of repo under another
// reference. kept are the roots with their other references (a root left
// with none is left out); attached are the cosign tags, in root order.
func splitAttached(roots []format.Root) (kept []format.Root, attached []attachedTag) {
	carried := map[string]bool{}
	for _, r := range roots {
		for _, s := range r.References {
			if x, err := imageset.ParseReference(s); err == nil {
				if _, ok := cosignSubject(x.Tag); !ok || x.Digest != "" {
					carried[x.Name()] = true
				}
			}
		}
	}
	for _, r := range roots {
		var refs []string
		for _, s := range r.References {
			x, err := imageset.ParseReference(s)
			if err == nil && x.Digest == "" && carried[x.Name()] {
				if subject, ok := cosignSubject(x.Tag); ok {
					attached = append(attached, attachedTag{repo: x.Name(), tag: x.Tag, subject: subject, desc: r.Descriptor})
					continue
				}
			}
			refs = append(refs, s)
		}
		if len(refs) == 0 && len(r.References) > 0 {
			continue
		}
		r.References = refs
		kept = append(kept, r)
	}
	return kept, attached
}

// attachedFor returns the cosign tags that go with push p: those of its
// source repository named after its root or a manifest the root lists. When
// the root is not in the archive (a delta's prerequisite), its manifests
// cannot be listed: the tags of its repository whose subject the archive
// does not know go with it.
func (u *unpacker) attachedFor(ctx context.Context, p section.Push) []attachedTag {
	if u.opts.RemoveSignatures || len(u.attached) == 0 {
		return nil
	}
	mine := map[digest.Digest]bool{}
	for _, d := range signedManifests(ctx, u.r, p.Root.Descriptor) {
		mine[d.Digest] = true
	}
	inArchive, _ := u.r.Exists(ctx, p.Root.Descriptor)
	var out []attachedTag
	for _, a := range u.attached {
		if a.repo != p.Source.Name() {
			continue
		}
		if !mine[a.subject] {
			if inArchive {
				continue
			}
			if _, known, _ := u.r.Descriptor(ctx, a.subject); known {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// pushAttached pushes the cosign tags of p after its root: each graph,
// then its tag, in p's destination repository. A tag already naming the
// same manifest there is left alone.
func (u *unpacker) pushAttached(ctx context.Context, p section.Push, dst *remote.Repository, mt *meter) error {
	for _, a := range u.attachedFor(ctx, p) {
		if cur, err := dst.Resolve(ctx, a.tag); err == nil && cur.Digest == a.desc.Digest {
			u.ledger.skippedGraph(ctx, u.r, SkipAtDestination, a.desc)
			u.walkKnown(ctx, a.desc, p.Dest.Repository)
			continue
		}
		err := copyGraph(ctx, counted(u.r, mt), u.target(dst, p, mt), a.desc, u.settings(p, !u.opts.NoReferrers))
		if err != nil {
			return fmt.Errorf("%s %s: %w", cosignKind(a.tag), a.ref(), err)
		}
		if err := dst.Tag(ctx, a.desc, a.tag); err != nil {
			return fmt.Errorf("tag %s:%s: %w", p.Dest.Name(), a.tag, err)
		}
		u.walkKnown(ctx, a.desc, p.Dest.Repository)
	}
	return nil
}

// withoutSignatures filters what find returns: referrers that are
// signatures are left out (each costs one more manifest read).
func withoutSignatures(find func(context.Context, content.ReadOnlyGraphStorage, ocispec.Descriptor) ([]ocispec.Descriptor, error)) func(context.Context, content.ReadOnlyGraphStorage, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return func(ctx context.Context, src content.ReadOnlyGraphStorage, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		preds, err := find(ctx, src, desc)
		if err != nil {
			return nil, err
		}
		var out []ocispec.Descriptor
		for _, p := range preds {
			if !isSignatureReferrer(ctx, src, p) {
				out = append(out, p)
			}
		}
		return out, nil
	}
}

// printAttached prints, below root, the cosign tags of its repositories
// named after it or after a manifest it lists (read from the archive when
// it can be: inspect may see the final volume alone), and marks them
// listed.
func printAttached(w io.Writer, r *archive.Reader, root format.Root, attached []attachedTag, listed []bool) {
	repos := map[string]bool{}
	for _, s := range root.References {
		if x, err := imageset.ParseReference(s); err == nil {
			repos[x.Name()] = true
		}
	}
	subjects := map[digest.Digest]string{}
	for _, d := range signedManifests(context.Background(), r, root.Descriptor) {
		switch p := d.Platform; {
		case d.Digest == root.Descriptor.Digest:
			subjects[d.Digest] = "the image"
		case p != nil && p.Variant != "":
			subjects[d.Digest] = p.OS + "/" + p.Architecture + "/" + p.Variant + " " + d.Digest.String()
		case p != nil:
			subjects[d.Digest] = p.OS + "/" + p.Architecture + " " + d.Digest.String()
		default:
			subjects[d.Digest] = d.Digest.String()
		}
	}
	for i, a := range attached {
		of, ok := subjects[a.subject]
		if !repos[a.repo] || !ok {
			continue
		}
		listed[i] = true
		fmt.Fprintf(w, "    + %s %s  %s  %s (of %s)\n", cosignKind(a.tag), a.ref(), a.desc.Digest, a.desc.MediaType, of)
	}
}
