package archive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// A backup tool does two things: copy images from a registry into an
// archive, and from an archive back into a registry or an OCI image layout.
// Both are oras.Copy with an archive as one end.
func Example() {
	ctx := context.Background()
	reg, _ := regserver.Start(regserver.Options{})
	defer reg.Close()
	repo := func(name string) (oras.Target, error) {
		r, err := remote.NewRepository(reg.Host + "/" + name)
		if err == nil {
			r.PlainHTTP = true
		}
		return r, err
	}
	sample, _ := archivetest.SampleSet(ctx, repo, 1, 100<<10) // a multi-arch index, an image, a signature
	src, _ := repo("library/app")
	tmp, _ := os.MkdirTemp("", "backup-")
	defer os.RemoveAll(tmp)

	// Registry -> archive.
	w, err := archive.Create(filepath.Join(tmp, "backup"))
	if err != nil {
		fmt.Println(err)
		return
	}
	root, err := oras.Copy(ctx, src, "v1", w, "registry.example/library/app:v1", oras.DefaultCopyOptions)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("packed", root.Digest, root.Digest == sample.Tags["library/app:v1"].Digest)

	// Archive -> OCI image layout (a registry works the same way).
	r, err := archive.Open(filepath.Join(tmp, "backup"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	layout, _ := oci.New(filepath.Join(tmp, "layout"))
	restored, err := oras.Copy(ctx, r, "registry.example/library/app:v1", layout, "v1", oras.DefaultCopyOptions)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored", restored.Digest, restored.MediaType)
	fmt.Println("blobs in archive:", r.Format().NumBlobs())
	// Output:
	// packed sha256:018e377244c6b45ba8c413a42e378de73689e180c1b7457e8a84fedf8f364deb true
	// restored sha256:018e377244c6b45ba8c413a42e378de73689e180c1b7457e8a84fedf8f364deb application/vnd.oci.image.index.v1+json
	// blobs in archive: 8
}
