package imageset_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/enclave-mirror/enclave/imageset"
)

func ExampleConfig_Plan() {
	const isc = `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  additionalImages:
    - name: quay.io/org/app:1.2
    - name: nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      targetRepo: web/nginx
    - name: quay.io/org/debug:latest
  blockedImages:
    - name: "/debug:"
`
	c, err := imageset.Load(strings.NewReader(isc), "isc.yaml")
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.Plan(imageset.PlanOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range p.Mappings {
		dst, err := m.Destination.Under("registry.internal:5000/mirror")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Source, "->", dst)
	}
	for _, b := range p.Blocked {
		fmt.Println("blocked:", b.Source, "by", b.Pattern)
	}
	// Output:
	// quay.io/org/app:1.2 -> registry.internal:5000/mirror/org/app:1.2
	// docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef -> registry.internal:5000/mirror/web/nginx:digest-sha256-0123456789abcdef0123456789abcdef@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	// blocked: quay.io/org/debug:latest by /debug:
}

func ExampleLoad_error() {
	const isc = `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  additionalImages:
    - name: quay.io/org/app:1.2
storageConfig:
  local:
    path: /tmp
`
	_, err := imageset.Load(strings.NewReader(isc), "isc.yaml")
	fmt.Println(err)
	// Output:
	// imageset: isc.yaml:6: unknown field "storageConfig" in ImageSetConfiguration (not supported by v2alpha1; remove it)
}
