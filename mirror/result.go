package mirror

import (
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/opencontainers/go-digest"
)

// ImageResult is what happened to one image.
type ImageResult = section.Result

// Result is what a run did.
type Result struct {
	Images  []ImageResult
	Blocked []imageset.Blocked
	// Archive is set for runs that wrote or read an archive.
	ArchiveDir    string
	ArchiveID     string
	ArchiveDigest digest.Digest
	Volumes       int
	// Receipt is the file an unpack wrote; ClusterResources are the
	// files an unpack or a pack into a registry (mirror to mirror) wrote.
	Receipt          string
	ClusterResources []string
	// Plan lines of a dry run.
	Plan []string
}

// Failed returns the images that failed.
func (r *Result) Failed() []ImageResult {
	var out []ImageResult
	for _, im := range r.Images {
		if im.Err != nil {
			out = append(out, im)
		}
	}
	return out
}
