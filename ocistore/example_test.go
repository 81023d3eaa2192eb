package ocistore_test

import (
	"fmt"

	"github.com/enclave-mirror/enclave/ocistore"
)

func ExampleReference_Rebase() {
	src, _ := ocistore.ParseReference("quay.io/org/app:1.2")
	dst, _ := ocistore.ParseLocation("docker://host:5000/mirror")
	out, _ := src.Rebase(dst.Reference)
	fmt.Println(out)
	hub, _ := ocistore.ParseReference("alpine:3")
	fmt.Println(hub)
	// Output:
	// host:5000/mirror/org/app:1.2
	// docker.io/library/alpine:3
}

func ExampleRegistriesConf_PullSources() {
	conf, _ := ocistore.ParseRegistriesConf("registries.conf", []byte(`
[[registry]]
prefix = "quay.io/org"
location = "quay.io/org"
[[registry.mirror]]
location = "registry.internal:5000/quay/org"
`))
	ref, _ := ocistore.ParseReference("quay.io/org/app:1.2")
	sources, _ := conf.PullSources(ref)
	for _, s := range sources {
		fmt.Println(s)
	}
	// Output:
	// mirror registry.internal:5000/quay/org/app:1.2
	// origin quay.io/org/app:1.2
}
