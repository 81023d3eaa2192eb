// Package archivetest builds image graphs for tests and checks that two
// targets hold the same content. It is used by this module's tests and is
// meant for those of programs built on package archive.
package archivetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Blob returns deterministic bytes: random (incompressible) or text-like.
func Blob(seed uint64, size int, compressible bool) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, size)
	if !compressible {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	words := []string{"lib", "usr", "bin", "etc", "config", "=", "true", "\n", "package", "main", "func", "0x1f", " "}
	var buf bytes.Buffer
	for buf.Len() < size {
		buf.WriteString(words[r.IntN(len(words))])
	}
	return buf.Bytes()[:size]
}

// Pusher is what the builders push into.
type Pusher interface {
	content.Pusher
	content.Tagger
}

// push stores content unless it is already there.
func push(ctx context.Context, t content.Pusher, mediaType string, b []byte) (ocispec.Descriptor, error) {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := t.Push(ctx, d, bytes.NewReader(b)); err != nil && !isExists(err) {
		return d, fmt.Errorf("push %s: %w", d.Digest, err)
	}
	return d, nil
}

func isExists(err error) bool {
	return err != nil && (errorsIs(err, errdef.ErrAlreadyExists))
}

// Image pushes a single-platform image made of the given layers (raw bytes
// pushed as tar layers) and returns its manifest descriptor.
func Image(ctx context.Context, t content.Pusher, platform string, layers ...[]byte) (ocispec.Descriptor, error) {
	cfg, _ := json.Marshal(map[string]any{"architecture": platform, "os": "linux", "rootfs": map[string]any{"type": "layers"}})
	cd, err := push(ctx, t, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return cd, err
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd}
	for _, l := range layers {
		ld, err := push(ctx, t, ocispec.MediaTypeImageLayer, l)
		if err != nil {
			return ld, err
		}
		m.Layers = append(m.Layers, ld)
	}
	mb, _ := json.Marshal(m)
	md, err := push(ctx, t, ocispec.MediaTypeImageManifest, mb)
	md.Platform = &ocispec.Platform{Architecture: platform, OS: "linux"}
	return md, err
}

// Index pushes an image index over manifests.
func Index(ctx context.Context, t content.Pusher, manifests ...ocispec.Descriptor) (ocispec.Descriptor, error) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
	b, _ := json.Marshal(idx)
	d, err := push(ctx, t, ocispec.MediaTypeImageIndex, b)
	return d, err
}

// Referrer pushes an artifact manifest whose subject is subject (a
// signature or SBOM stand-in) and returns it.
func Referrer(ctx context.Context, t content.Pusher, subject ocispec.Descriptor, artifactType string, payload []byte) (ocispec.Descriptor, error) {
	ld, err := push(ctx, t, "application/octet-stream", payload)
	if err != nil {
		return ld, err
	}
	s := subject
	s.Platform = nil
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{ld}, Subject: &s}
	if _, err := push(ctx, t, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data); err != nil {
		return ld, err
	}
	b, _ := json.Marshal(m)
	return push(ctx, t, ocispec.MediaTypeImageManifest, b)
}

// Sample describes what SampleSet pushed.
type Sample struct {
	// Tags maps "repo:tag" (relative to the registry) to the root pushed.
	Tags map[string]ocispec.Descriptor
	// Referrers maps a subject digest to its referrer manifests.
	Referrers map[digest.Digest][]ocispec.Descriptor
}

// RepoFunc returns the target for a repository.
type RepoFunc func(repo string) (oras.Target, error)

// SampleSet pushes a small but complete set of images: a multi-arch index
// over two platforms sharing a base layer, a single-platform image sharing
// that base and holding the empty blob as a layer, a layer spanning several
// 64 KiB chunks (bigSize bytes), and a referrer on the second image.
// variant changes the top layers so a second set shares only the bases.
func SampleSet(ctx context.Context, repo RepoFunc, variant uint64, bigSize int) (*Sample, error) {
	s := &Sample{Tags: map[string]ocispec.Descriptor{}, Referrers: map[digest.Digest][]ocispec.Descriptor{}}
	base := Blob(1, 300<<10, true)
	app, err := repo("library/app")
	if err != nil {
		return nil, err
	}
	amd, err := Image(ctx, app, "amd64", base, Blob(10+variant, 50<<10, true))
	if err != nil {
		return nil, err
	}
	arm, err := Image(ctx, app, "arm64", base, Blob(20+variant, 50<<10, false))
	if err != nil {
		return nil, err
	}
	idx, err := Index(ctx, app, amd, arm)
	if err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("v%d", variant)
	if err := app.Tag(ctx, idx, tag); err != nil {
		return nil, err
	}
	s.Tags["library/app:"+tag] = idx

	tool, err := repo("team/tool")
	if err != nil {
		return nil, err
	}
	img, err := Image(ctx, tool, "amd64", base, []byte{}, Blob(30+variant, bigSize, false))
	if err != nil {
		return nil, err
	}
	img.Platform = nil
	if err := tool.Tag(ctx, img, tag); err != nil {
		return nil, err
	}
	s.Tags["team/tool:"+tag] = img
	sig, err := Referrer(ctx, tool, img, "application/vnd.example.signature", Blob(40+variant, 200, false))
	if err != nil {
		return nil, err
	}
	s.Referrers[img.Digest] = append(s.Referrers[img.Digest], sig)
	return s, nil
}

// SameGraph checks that dst holds exactly src's graph under root: every
// manifest byte for byte and every blob fetchable with the right digest.
func SameGraph(ctx context.Context, src, dst content.ReadOnlyStorage, root ocispec.Descriptor) error {
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor) error
	walk = func(d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		got, err := fetchVerified(ctx, dst, d)
		if err != nil {
			return fmt.Errorf("destination %s: %w", d.Digest, err)
		}
		want, err := fetchVerified(ctx, src, d)
		if err != nil {
			return fmt.Errorf("source %s: %w", d.Digest, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s differs", d.Digest)
		}
		succ, err := content.Successors(ctx, src, d)
		if err != nil {
			return err
		}
		for _, s := range succ {
			if err := walk(s); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

func fetchVerified(ctx context.Context, t content.Fetcher, d ocispec.Descriptor) ([]byte, error) {
	rc, err := t.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("content of %s does not match (%d bytes)", d.Digest, len(b))
	}
	return b, nil
}
