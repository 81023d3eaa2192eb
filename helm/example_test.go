package helm_test

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/helm"
)

// A packaged chart becomes the OCI artifact helm push would write; its
// chart layer is the archive itself.
func ExampleChart_Push() {
	c, err := helm.LoadLocal("testdata/repo/podinfo-5.0.0.tgz", helm.Limits{})
	if err != nil {
		panic(err)
	}
	desc, err := c.Push(context.Background(), memory.New())
	if err != nil {
		panic(err)
	}
	dst, _ := helm.ChartDestination(c)
	fmt.Println(c.Name, c.Version)
	fmt.Println("archive ", c.Digest())
	fmt.Println("manifest", desc.Digest)
	fmt.Println("to      ", dst)
	// Output:
	// podinfo 5.0.0
	// archive  sha256:43cdf797e2b31973542b3fb596086f5e7e13074d9a9693f40208e6387c5a9028
	// manifest sha256:946cb0cd2f9c5e540d52a8a7d521d18485beab85e77762c45105c6a428b030ce
	// to       local/podinfo:5.0.0
}

// The images a chart deploys, found by rendering it with Helm's engine,
// hooks included.
func ExampleFindImages() {
	c, err := helm.LoadLocal("testdata/repo/ingress-nginx-4.12.1.tgz", helm.Limits{})
	if err != nil {
		panic(err)
	}
	d, err := helm.FindImages(context.Background(), c, helm.RenderOptions{})
	if err != nil {
		panic(err)
	}
	for _, img := range d.Images {
		w := img.Found[0]
		fmt.Printf("%s/%s\n  %s %s %s hook=%q\n", img.Ref.Registry, img.Ref.Repository, w.Kind, w.Template, w.Path, w.Hook)
	}
	// Output:
	// registry.k8s.io/ingress-nginx/controller
	//   Deployment ingress-nginx/templates/controller-deployment.yaml spec.template.spec.containers[0].image hook=""
	// registry.k8s.io/ingress-nginx/kube-webhook-certgen
	//   Job ingress-nginx/templates/admission-webhooks/job-patch/job-createSecret.yaml spec.template.spec.containers[0].image hook="pre-install,pre-upgrade"
}
