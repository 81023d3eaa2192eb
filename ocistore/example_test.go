package ocistore_test

import (
	"fmt"

	"github.com/enclave-mirror/enclave/ocistore"
)

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
