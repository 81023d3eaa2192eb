// Package section is the seam between what to mirror and how to move it.
//
// Each part of an ImageSetConfiguration's mirror: key (mirror.platform,
// mirror.operators, mirror.helm, mirror.additionalImages) is one [Kind], in
// a package of its own under mirror/. A kind turns its part of the
// configuration, plus whatever it must read (update graphs, catalogs, chart
// repositories), into the same plan:
//
//   - at pack, a [PackPlan]: the images to copy (source -> destination),
//     and, once they are copied, a [Delivery] of what is not an image
//     (attachments the archive carries, images built for a registry);
//   - at unpack, an [UnpackPlan]: the archive roots the kind claims, where
//     each selected one goes, and the cluster resources it writes once the
//     pushes are done.
//
// Package mirror runs the plans and moves the bytes; it knows no kind by
// name. Kinds do not import one another, nor mirror.
package section

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/ocistore"
)

// Kind is one kind of content: one mirror.* section.
type Kind interface {
	// Section is the configuration key the kind plans.
	Section() imageset.Section
	// Pack plans the kind's content for a pack. A configuration without
	// the section gives a nil plan.
	Pack(ctx context.Context, env *PackEnv) (*PackPlan, error)
	// Unpack plans the kind's roots of an archive for an unpack. Kinds are
	// asked in order, and each sees only the roots that the kinds before
	// it did not claim; the catch-all (additional images, which places
	// every remaining reference) comes last.
	Unpack(ctx context.Context, env *UnpackEnv) (*UnpackPlan, error)
}

// Logf prints one line of progress for a person to read.
type Logf func(format string, args ...any)

// PackEnv is what a kind can use to plan a pack.
type PackEnv struct {
	Config *imageset.Config
	// Source reads the source registries (auth, TLS, registries.conf).
	Source *ocistore.Client
	// IntoArchive is set when the destination is an archive (for a dry run
	// too): a source is copied once, whatever names it has at the
	// destination. Otherwise every destination tag is its own image.
	IntoArchive bool
	// Parallel bounds the kind's own concurrent reads (payloads, catalogs).
	Parallel int
	// Registry is the destination root, "host[:port][/prefix]", when
	// the destination is a registry (mirror to mirror); empty into an
	// archive and for a dry run. A kind uses it to name its cluster
	// resources ([Delivery.Resources]).
	Registry string
	Logf     Logf
}

// Image is one image to copy.
type Image struct {
	imageset.Mapping
	// From, when set, holds the image's content (an image built in memory
	// from what the kind read): it is copied from there, not from the
	// source registry, starting at Root (its manifest or index).
	From oras.ReadOnlyGraphTarget
	Root ocispec.Descriptor
}

// PackPlan is what a kind contributes to a pack.
type PackPlan struct {
	Images []Image
	// Blocked are the sources left out by blockedImages.
	Blocked []imageset.Blocked
	// Deliver, when set, is called once every image was copied, with the
	// results of Images in their order. It returns what the destination
	// receives besides images. It is not called when the run was
	// interrupted.
	Deliver func(ctx context.Context, results []Result) (*Delivery, error)
}

// Result is what happened to one image.
type Result struct {
	Source      string
	Destination string
	Digest      digest.Digest
	Err         error
}

// Attachment is data an archive carries that is not OCI content.
type Attachment struct {
	Name, MediaType string
	Data            []byte
}

// BuiltImage is an image a kind builds for a registry destination.
type BuiltImage struct {
	// Repository and Tag place the image below the destination root.
	Repository, Tag string
	// Push writes the image into dst, tagged.
	Push func(ctx context.Context, dst oras.Target, tag string) error
}

// Delivery is what a destination receives besides the images copied.
type Delivery struct {
	// Attachments go into an archive (and are listed by a dry run); a
	// registry destination has no place for them.
	Attachments []Attachment
	// Images go into a registry destination (mirror to mirror) only: an
	// archive carries what unpack rebuilds them from.
	Images []BuiltImage
	// Resources are the cluster resources of a registry destination
	// (mirror to mirror), written once the images above are pushed; an
	// archive's are written by unpack ([UnpackPlan.Finish]).
	Resources []clusterres.Resource
}

// UnpackEnv is what a kind can use to plan an unpack.
type UnpackEnv struct {
	Archive *archive.Reader
	// Roots are the archive's roots that no kind before this one claimed.
	// Cosign tags (spec/FORMAT.md 7.8) are not among them: package mirror
	// pushes each with its image.
	Roots []format.Root
	// Config selects what to push (enclave-unpack -c); nil pushes
	// everything the archive holds.
	Config *imageset.Config
	// Registry is the destination root, "host[:port][/prefix]".
	Registry string
	Logf     Logf
}

// Push is one root to push: where from, where to.
type Push struct {
	Root format.Root
	// Source is the reference the image had at its source.
	Source imageset.Reference
	// Dest is the repository at the destination (its tag is Tag).
	Dest ocistore.Reference
	Tag  string
}

// UnpackPlan is what a kind contributes to an unpack.
type UnpackPlan struct {
	// Claimed are the roots that are the kind's content, selected or not:
	// the kinds after it do not see them.
	Claimed map[digest.Digest]bool
	Pushes  []Push
	// Finish, when set, is called after the pushes with their results in
	// order (not after a dry run or an interrupted run). It returns the
	// cluster resources to write, and may push images it builds.
	Finish func(ctx context.Context, env *FinishEnv, results []Result) ([]clusterres.Resource, error)
}

// FinishEnv is what a kind can use once its pushes are done.
type FinishEnv struct {
	// ArchiveDigest names the archive unpacked (cluster resources are
	// named after it so that two archives never overwrite each other's).
	ArchiveDigest digest.Digest
	// Registry is the destination root, "host[:port][/prefix]".
	Registry string
	// Repository opens a repository of the destination host, by its path.
	Repository func(ctx context.Context, path string) (oras.Target, error)
	Logf       Logf
}
