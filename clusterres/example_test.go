package clusterres_test

import (
	"fmt"
	"log"
	"os"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/opencontainers/go-digest"
)

func ExampleMirrorSets() {
	archive := digest.FromString("archive index")
	rs, err := clusterres.MirrorSets(clusterres.ArchiveName(archive),
		[]clusterres.Mirror{{Source: "quay.io/org/app", Mirror: "registry.internal:5000/org/app"}},
		nil)
	if err != nil {
		log.Fatal(err)
	}
	b, err := rs[0].Encode()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rs[0].FileName())
	os.Stdout.Write(b)
	// Output:
	// imagedigestmirrorset_enclave-3f294dc3406e.yaml
	// apiVersion: config.openshift.io/v1
	// kind: ImageDigestMirrorSet
	// metadata:
	//   name: enclave-3f294dc3406e
	//   labels:
	//     app.kubernetes.io/managed-by: enclave
	// spec:
	//   imageDigestMirrors:
	//     - source: quay.io/org/app
	//       mirrors:
	//         - registry.internal:5000/org/app
}
