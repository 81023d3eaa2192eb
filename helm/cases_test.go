package helm

import (
	"context"
	"slices"
	"testing"
)

// TestFindImagesCases renders testdata/chartdir/demo, a chart that puts
// images in every place the package looks, and checks each case by name.
func TestFindImagesCases(t *testing.T) {
	c, err := LoadLocal("testdata/chartdir/demo", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opts := RenderOptions{
		APIVersions: []string{"monitoring.coreos.com/v1"},
		ImagePaths:  []string{"{.spec.template.spec.containers[*].env[?(@.name==\"PLAIN\")].value}"},
	}
	d, err := FindImages(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]Where{}
	for _, i := range d.Images {
		found[i.Ref.String()] = i.Found
	}
	tests := []struct {
		name, ref string
		method    Method
		path      string
		hook      string
	}{
		{"container from a helper include", "quay.io/demo/app:2.0", FoundImageField, "spec.template.spec.containers[0].image", ""},
		{"initContainer, short Docker Hub name", "docker.io/library/busybox:latest", FoundImageField, "spec.template.spec.initContainers[0].image", ""},
		{"ephemeralContainer", "docker.io/library/alpine:3.20", FoundImageField, "spec.template.spec.ephemeralContainers[0].image", ""},
		{"image volume", "quay.io/demo/data-volume:1", FoundImageField, "spec.template.spec.volumes[0].image.reference", ""},
		{"CronJob", "quay.io/demo/backup:new-kube", FoundImageField, "spec.jobTemplate.spec.template.spec.containers[0].image", ""},
		{"pre-install hook Job", "quay.io/demo/migrate:1.0", FoundImageField, "spec.template.spec.containers[0].image", "pre-install,pre-upgrade"},
		{"custom resource spec.image (APIVersions)", "quay.io/prometheus/prometheus:v3.0.0", FoundImageField, "spec.image", ""},
		{"custom resource image mapping", "quay.io/thanos/thanos:v0.36.0", FoundImageField, "spec.thanos.image", ""},
		{"argument flag", "quay.io/demo/sidecar:3.1", FoundInferred, "spec.template.spec.containers[0].args[0]", ""},
		{"env value by digest", "registry.example.com/team/operand@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", FoundInferred, "spec.template.spec.containers[0].env[0].value", ""},
		{"ConfigMap text", "ghcr.io/demo/exporter:v1.2.3", FoundInferred, "data.config.yaml", ""},
		{"imagePaths", "quay.io/demo/by-image-path:1", FoundImagePath, opts.ImagePaths[0], ""},
		{"aliased subchart with parent values", "docker.io/demo/helper:0.1", FoundImageField, "spec.template.spec.containers[0].image", ""},
		{"helm.sh/images annotation", "quay.io/demo/operand:1.0", FoundAnnotation, "helm.sh/images[0]", ""},
		{"artifacthub.io/images annotation of a chart on its defaults", "quay.io/demo/app:2.0", FoundAnnotation, "artifacthub.io/images[0]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, ok := found[tt.ref]
			if !ok {
				t.Fatalf("%s not found; found %q", tt.ref, refs(d.Images))
			}
			if !slices.ContainsFunc(ws, func(w Where) bool { return w.Method == tt.method && w.Path == tt.path && w.Hook == tt.hook }) {
				t.Errorf("%s found at %+v, want method %s path %s hook %q", tt.ref, ws, tt.method, tt.path, tt.hook)
			}
		})
	}
	absent := map[string]string{
		"quay.io/demo/backup:old-kube":          "the other side of a Capabilities.KubeVersion branch",
		"docker.io/demo/extra:9.9":              "a subchart disabled by its condition",
		"quay.io/demo/metrics:1.0":              "a helm.sh/images entry whose condition is false",
		"quay.io/demo/sub-extra:1.0":            "a helm.sh/images entry of a disabled dependency",
		"docker.io/demo/helper:0.0-default":     "an artifacthub.io/images entry of a subchart whose values the parent replaced",
		"docker.io/curlimages/curl:8.0.0":       "an image only a helm test hook uses",
		"ghcr.io/demo/page:1":                   "a URL",
		"docker.io/not-an-image/at:all":         "a string without a registry host",
		"0.0.0.0:8080/metrics:latest":           "an address",
		"example.com/a/b:c":                     "a URL path",
		"docker.io/library/not-an-image:latest": "",
	}
	for ref, why := range absent {
		if _, ok := found[ref]; ok {
			t.Errorf("%s found: it is %s", ref, why)
		}
	}
	if got := refs(d.TestImages); !slices.Equal(got, []string{"docker.io/curlimages/curl:8.0.0"}) {
		t.Errorf("test images = %q", got)
	}
	// quay.io/demo/app:2.0 is also used by the test hook: it stays an
	// image, with the hook among its places.
	if !slices.ContainsFunc(found["quay.io/demo/app:2.0"], func(w Where) bool { return w.Hook == "test" }) {
		t.Errorf("app image places %+v miss the test hook", found["quay.io/demo/app:2.0"])
	}
	golden(t, "demo.images.json", mustJSON(t, d))

	// Explicit capabilities: an older Kubernetes takes the other branch,
	// and without the monitoring API the Prometheus CR is not rendered.
	d, err = FindImages(context.Background(), c, RenderOptions{KubeVersion: "v1.25.0"})
	if err != nil {
		t.Fatal(err)
	}
	got := refs(d.Images)
	if !slices.Contains(got, "quay.io/demo/backup:old-kube") || slices.Contains(got, "quay.io/demo/backup:new-kube") || slices.Contains(got, "quay.io/prometheus/prometheus:v3.0.0") {
		t.Errorf("kube 1.25 without monitoring API: %q", got)
	}

	// Values given enable the disabled subchart and the metrics image, and
	// turn the top chart's artifacthub.io/images off.
	d, err = FindImages(context.Background(), c, RenderOptions{Values: []map[string]any{
		{"extra": map[string]any{"enabled": true}},
		{"metrics": map[string]any{"enabled": true}, "image": map[string]any{"tag": "2.1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got = refs(d.Images)
	for _, want := range []string{"docker.io/demo/extra:9.9", "quay.io/demo/metrics:1.0", "quay.io/demo/sub-extra:1.0", "quay.io/demo/app:2.1"} {
		if !slices.Contains(got, want) {
			t.Errorf("with values: %s missing from %q", want, got)
		}
	}
	if slices.Contains(got, "quay.io/demo/app:2.0") {
		t.Errorf("with values: the default app image (from the annotation) is still listed: %q", got)
	}
}
