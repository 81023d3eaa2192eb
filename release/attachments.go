package release

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// Release data that is not OCI content travels as archive attachments,
// under these names (spec/FORMAT.md, "Attachment names the enclave tools
// use"):
//
//	releases.json                         the releases packed and their components ([Index])
//	graph/<channel>/<arch>.json           each update graph, verbatim (OKD: graph/okd/...)
//	signatures/sha256=<hex>/signature-<n> each verified payload signature
//	graph-data.tar.gz                     the graph-data tarball (graph: true)
const (
	// AttachReleases is the attachment listing the releases an archive
	// holds.
	AttachReleases = "releases.json"
	// AttachGraphData is the graph-data tarball (tar.gz).
	AttachGraphData = "graph-data.tar.gz"

	// Media types of the attachments.
	MediaTypeReleases  = "application/vnd.enclave.releases.v1+json"
	MediaTypeGraph     = "application/json"
	MediaTypeSignature = "application/pgp-signature"
	MediaTypeGraphData = "application/gzip"

	// MaxIndexBytes bounds releases.json read back from an archive (~20
	// KiB per release with 190 components).
	MaxIndexBytes = 64 << 20
)

// GraphAttachment is the attachment name of an update graph.
func GraphAttachment(product Product, channel string, arch Arch) string {
	if product == ProductOKD {
		return "graph/okd/" + channel + "/" + string(arch) + ".json"
	}
	return "graph/" + channel + "/" + string(arch) + ".json"
}

// SignatureAttachment is the attachment name of signature n (1-based) of
// payload d: the path mirror.openshift.com serves it under.
func SignatureAttachment(d digest.Digest, n int) string {
	return fmt.Sprintf("signatures/sha256=%s/signature-%d", d.Encoded(), n)
}

var signatureNameRE = regexp.MustCompile(`^signatures/sha256=([a-f0-9]{64})/signature-([1-9][0-9]{0,3})$`)

// ParseSignatureAttachment returns the payload digest and the signature
// number of a [SignatureAttachment] name; ok is false for any other name.
func ParseSignatureAttachment(name string) (d digest.Digest, n int, ok bool) {
	m := signatureNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	n, _ = strconv.Atoi(m[2])
	return digest.NewDigestFromEncoded(digest.SHA256, m[1]), n, true
}

// Index is releases.json: the releases an archive holds.
type Index struct {
	Releases []IndexRecord `json:"releases"`
}

// IndexRecord is one release of an [Index]: the payload and every
// component by digest reference. Unpack names destinations from it.
type IndexRecord struct {
	Version    string            `json:"version"`
	Arch       Arch              `json:"arch"`
	Payload    string            `json:"payload"`
	Channels   []string          `json:"channels,omitempty"`
	Components []ComponentRecord `json:"components"`
}

// ComponentRecord is one component of an [IndexRecord].
type ComponentRecord struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}
