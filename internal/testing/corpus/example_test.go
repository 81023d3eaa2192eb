package corpus_test

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/internal/testing/corpus"
)

// The corpus is reproducible: these digests are the same on every machine.
// If they change, every published benchmark's corpus changed with them (a
// new version of klauspost/compress, a change to the generator): say so.
func ExampleGenerate() {
	store := memory.New()
	m, err := corpus.Generate(context.Background(),
		func(repo string) (oras.Target, error) { return store, nil },
		corpus.Options{Seed: 1, Scale: 0.0002, Images: 8, Release: 1})
	if err != nil {
		panic(err)
	}
	for _, im := range m.Images[:3] {
		fmt.Println(im.Reference("example.com"), im.Digest)
	}
	fmt.Println(len(m.Images), "images,", len(m.Blobs), "blobs,", m.UniqueBytes(), "bytes")
	// Output:
	// example.com/ocp/component-00:v1 sha256:79f560bad6d8b19d115a0b497705181f17a1f6f97f99a8ab68bdc68d114042e2
	// example.com/ocp/component-01:v1 sha256:4475d3322360a85b472b8da3b464c477b6f9a772fe83f65be3b67b701b9394b4
	// example.com/ocp/component-02:v1 sha256:7c61a00851224114b4293abf53bb26adaedbea460403970843831871dd73f2b9
	// 8 images, 59 blobs, 233340 bytes
}
