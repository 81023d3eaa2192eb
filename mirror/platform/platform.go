// Package platform plans mirror.platform: OpenShift and OKD releases.
//
// Pack fetches each channel's update graph per architecture, selects the
// releases, reads every payload at its source (through the same registry
// client as every other image, so registries.conf mirrors apply), and plans
// the payload and each component as ordinary images. Release data that is
// not OCI content travels as archive attachments (see package release,
// attachments.go): releases.json, the update graphs, the verified payload
// signatures and the graph-data tarball.
//
// Inside an air gap nothing is fetched from the internet: with
// [Options.ReleaseData] naming the archive the previous stage delivered,
// signatures and graph data come only from its attachments (a missing one is
// an error, never a download), and so do update graphs unless an update
// service is named (--update-url or UPDATE_URL_OVERRIDE).
//
// Unpack pushes payloads to <dest>/openshift/release-images:<version>-<arch>
// and components to <dest>/openshift/release:<version>-<arch>-<name> (as
// oc-mirror v2 does), then writes an ImageDigestMirrorSet for them, the
// signature ConfigMap, and, when graph data is carried, the graph-data image
// and an UpdateService. Mirror to mirror (a registry destination), the pack
// places the images as unpack does, pushes the graph-data image, and
// delivers the same cluster resources.
package platform

import (
	"net/http"
	"os"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/release"
)

// Options configure mirror.platform. The zero value uses the environment,
// the public endpoints and Red Hat's release keys.
type Options struct {
	// UpdateURL is the update graph API; default UPDATE_URL_OVERRIDE, then
	// the product's public endpoint.
	UpdateURL string
	// SignatureURL is the base URL of release signatures; default
	// OCP_SIGNATURE_URL, then mirror.openshift.com.
	SignatureURL string
	// GraphDataURL serves the graph-data tarball; default
	// release.GraphDataURL.
	GraphDataURL string
	// ReleaseKey is an armored OpenPGP public key file that release
	// signatures must verify against; default OCP_SIGNATURE_VERIFICATION_PK,
	// then Red Hat's release keys (release.DefaultKeyring), as oc-mirror.
	ReleaseKey string
	// SkipSignatures carries releases without signatures (so no signature
	// ConfigMap is written at unpack; clusters then cannot verify the
	// mirrored payloads without another source).
	SkipSignatures bool
	// ReleaseData is the directory of an archive a previous stage delivered
	// (enclave workflow). Signatures and graph data then come only from its
	// attachments; update graphs too, unless UpdateURL or
	// UPDATE_URL_OVERRIDE names an update service.
	ReleaseData string
	// HTTPClient is used for the update graph, signatures and graph data
	// (nil: the default transport).
	HTTPClient *http.Client
	// Getenv replaces os.Getenv (tests, embedding).
	Getenv func(string) string
}

func (o Options) getenv() func(string) string {
	if o.Getenv != nil {
		return o.Getenv
	}
	return os.Getenv
}

// Kind is mirror.platform as a [section.Kind].
type Kind struct {
	opts Options
}

// New returns mirror.platform configured by opts.
func New(opts Options) *Kind { return &Kind{opts: opts} }

// Section returns imageset.SectionPlatform.
func (*Kind) Section() imageset.Section { return imageset.SectionPlatform }

var _ section.Kind = (*Kind)(nil)

// Errors, as package mirror classifies them.
var (
	errUsage         = section.ErrUsage
	errIntegrity     = section.ErrIntegrity
	errPrerequisites = section.ErrPrerequisites
)

// arches are the payload architectures mirror.platform selects: its
// architectures (amd64 by default), or, with platforms, multi, as oc-mirror
// does: the multi payload is the one whose images are indexes of
// platforms, copied sparse (see platformFilter).
func arches(p *imageset.Platform) ([]release.Arch, error) {
	if len(p.Platforms) > 0 {
		return []release.Arch{release.ArchMulti}, nil
	}
	names := p.Architectures
	if len(names) == 0 {
		names = []string{string(release.ArchAMD64)}
	}
	out := make([]release.Arch, 0, len(names))
	for _, n := range names {
		a, err := release.ParseArch(n)
		if err != nil {
			return nil, section.Classed(errUsage, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func channelSpec(ch imageset.ReleaseChannel) release.ChannelSpec {
	s := release.ChannelSpec{Name: ch.Name, Type: release.Product(ch.Type), ShortestPath: ch.ShortestPath, Full: ch.Full}
	if ch.MinVersion != nil {
		s.MinVersion = ch.MinVersion.String()
	}
	if ch.MaxVersion != nil {
		s.MaxVersion = ch.MaxVersion.String()
	}
	return s
}

func product(ch imageset.ReleaseChannel) release.Product {
	if ch.Type == imageset.ChannelTypeOKD {
		return release.ProductOKD
	}
	return release.ProductOCP
}
