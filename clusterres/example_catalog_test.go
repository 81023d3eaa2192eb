package clusterres_test

import (
	"fmt"
	"log"
	"os"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/opencontainers/go-digest"
)

func ExampleCatalogSource() {
	archive := digest.FromString("archive index")
	name, err := clusterres.CatalogName(archive, "mirror.local:5000/redhat/redhat-operator-index", "v4.18")
	if err != nil {
		log.Fatal(err)
	}
	image := "mirror.local:5000/redhat/redhat-operator-index@" + digest.FromString("filtered catalog").String()
	cs, err := clusterres.CatalogSource(name, image, nil, true)
	if err != nil {
		log.Fatal(err)
	}
	cc, err := clusterres.ClusterCatalog(name, image)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range []clusterres.Resource{cs, cc} {
		b, err := r.Encode()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("#", r.FileName())
		os.Stdout.Write(b)
	}
	// Output:
	// # catalogsource_openshift-marketplace_enclave-3f294dc3406e-redhat-operator-index-v4-18.yaml
	// apiVersion: operators.coreos.com/v1alpha1
	// kind: CatalogSource
	// metadata:
	//   name: enclave-3f294dc3406e-redhat-operator-index-v4-18
	//   namespace: openshift-marketplace
	//   labels:
	//     app.kubernetes.io/managed-by: enclave
	// spec:
	//   sourceType: grpc
	//   image: mirror.local:5000/redhat/redhat-operator-index@sha256:91c8ee9248d4ac796636d57c3a19fbf97e0bd2c71ea3a403572bb434c783aeb1
	// # clustercatalog_enclave-3f294dc3406e-redhat-operator-index-v4-18.yaml
	// apiVersion: olm.operatorframework.io/v1
	// kind: ClusterCatalog
	// metadata:
	//   name: enclave-3f294dc3406e-redhat-operator-index-v4-18
	//   labels:
	//     app.kubernetes.io/managed-by: enclave
	// spec:
	//   priority: 0
	//   source:
	//     type: Image
	//     image:
	//       ref: mirror.local:5000/redhat/redhat-operator-index@sha256:91c8ee9248d4ac796636d57c3a19fbf97e0bd2c71ea3a403572bb434c783aeb1
}
