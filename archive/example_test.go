package archive_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/content/oci"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A backup tool does two things: copy images from a registry into an
// archive, and from an archive back into a registry or an OCI image layout.
// Both are oras.Copy with an archive as one end. Every error is handled,
// Close's included: Close is where the archive becomes complete.
func Example() {
	ctx := context.Background()
	// The source: an in-memory store holding sample images; a backup tool
	// passes a registry repository (remote.NewRepository) or an OCI layout
	// (oci.New) the same way.
	src := memory.New()
	sample, err := archivetest.SampleSet(ctx, func(string) (oras.Target, error) { return src, nil }, 1, 100<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	app := sample.Tags["library/app:v1"] // a multi-arch index
	if err := src.Tag(ctx, app, "app-v1"); err != nil {
		fmt.Println(err)
		return
	}
	tmp, err := os.MkdirTemp("", "backup-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)

	// Registry -> archive.
	w, err := archive.Create(filepath.Join(tmp, "backup"), archive.WithVolumeSize(1<<30))
	if err != nil {
		fmt.Println(err)
		return
	}
	root, err := oras.Copy(ctx, src, "app-v1", w, "registry.example/library/app:v1", oras.DefaultCopyOptions)
	if err != nil {
		w.Abort()
		fmt.Println(err)
		return
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("packed", root.Digest == app.Digest)

	// Archive -> OCI image layout (a registry works the same way).
	r, err := archive.Open(filepath.Join(tmp, "backup"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	fmt.Println("tags:", r.Tags())
	layout, err := oci.New(filepath.Join(tmp, "layout"))
	if err != nil {
		fmt.Println(err)
		return
	}
	restored, err := oras.Copy(ctx, r, "registry.example/library/app:v1", layout, "v1", oras.DefaultCopyOptions)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored", restored.Digest == app.Digest, restored.MediaType)
	// Output:
	// packed true
	// tags: [registry.example/library/app:v1]
	// restored true application/vnd.oci.image.index.v1+json
}

// A tool that writes blobs somewhere slow to seek (or pushes them to a
// registry) reads the archive once, front to back, with Stream: each blob
// comes to the consumer as the read reaches it, checked like Fetch's
// reader, which withholds the last bytes of a blob whose digest does not
// match.
func ExampleReader_Stream() {
	ctx := context.Background()
	src := memory.New()
	sample, err := archivetest.SampleSet(ctx, func(string) (oras.Target, error) { return src, nil }, 1, 100<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	tmp, err := os.MkdirTemp("", "stream-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)
	w, err := archive.Create(filepath.Join(tmp, "a"))
	if err != nil {
		fmt.Println(err)
		return
	}
	app := sample.Tags["library/app:v1"]
	if err := oras.CopyGraph(ctx, src, w, app, oras.DefaultCopyGraphOptions); err != nil {
		w.Abort()
		fmt.Println(err)
		return
	}
	if err := w.Tag(ctx, app, "registry.example/library/app:v1"); err != nil {
		w.Abort()
		fmt.Println(err)
		return
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}

	r, err := archive.Open(filepath.Join(tmp, "a"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	// The blobs to hand over: here every layer of the index's images, each
	// once (Stream hands a digest over once however often it is listed).
	var layers []ocispec.Descriptor
	seen := map[string]bool{}
	for _, root := range r.Roots() {
		img, _ := content.Successors(ctx, r, root.Descriptor)
		for _, m := range img {
			succ, _ := content.Successors(ctx, r, m)
			for _, s := range succ {
				if s.MediaType == ocispec.MediaTypeImageLayer && !seen[s.Digest.String()] {
					seen[s.Digest.String()] = true
					layers = append(layers, s)
				}
			}
		}
	}
	var mu sync.Mutex
	var n int
	var bytes int64
	err = r.Stream(ctx, layers, archive.StreamOptions{}, func(ctx context.Context, desc ocispec.Descriptor, rc io.ReadCloser) error {
		defer rc.Close()
		got, err := io.Copy(io.Discard, rc) // a digest mismatch is this error
		if err != nil {
			return err
		}
		mu.Lock()
		n++
		bytes += got
		mu.Unlock()
		return nil
	})
	fmt.Println(err, n == len(layers), n > 1, bytes > 0)
	// Output:
	// <nil> true true true
}
