package ref_test

import (
	"fmt"

	"github.com/enclave-mirror/enclave/ref"
)

func ExampleReference_Rebase() {
	src, _ := ref.Parse("quay.io/org/app:1.2")
	dst, _ := ref.ParseLocation("docker://host:5000/mirror")
	out, _ := src.Rebase(dst.Reference)
	fmt.Println(out)
	hub, _ := ref.Parse("alpine:3")
	fmt.Println(hub)
	// Output:
	// host:5000/mirror/org/app:1.2
	// docker.io/library/alpine:3
}

func ExampleReference_Under() {
	rel := ref.Reference{Repository: "org/app", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	rel.Tag = ref.DigestTag(rel.Digest)
	out, _ := rel.Under("registry.internal:5000/mirror")
	fmt.Println(out.Name() + ":" + out.Tag)
	// Output:
	// registry.internal:5000/mirror/org/app:digest-sha256-0123456789abcdef0123456789abcdef
}
