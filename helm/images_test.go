package helm

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func refs(imgs []Image) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, i.Ref.String())
	}
	return out
}

// TestFindImagesRealCharts renders the real published charts of HELM.md
// section 5 and checks the exact image sets a correct tool must find,
// hooks included, then pins the full report (where each image was found)
// in golden files.
func TestFindImagesRealCharts(t *testing.T) {
	tests := []struct {
		file       string
		want       []string
		wantTests  []string
		goldenName string
	}{
		{
			file: "podinfo-5.0.0.tgz",
			want: []string{"ghcr.io/stefanprodan/podinfo:5.0.0"},
			wantTests: []string{
				"docker.io/curlimages/curl:7.69.0",
				"docker.io/giantswarm/tiny-tools:latest",
				"docker.io/stefanprodan/grpc_health_probe:v0.3.0",
			},
		},
		{
			// The post-install hook Job's kube-webhook-certgen is the
			// image oc-mirror misses.
			file: "ingress-nginx-4.12.1.tgz",
			want: []string{
				"registry.k8s.io/ingress-nginx/controller:v1.12.1@sha256:d2fbc4ec70d8aa2050dd91a91506e998765e86c96f32cffb56c503c9c34eed5b",
				"registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.5.2@sha256:e8825994b7a2c7497375a9b945f386506ca6a3eda80b89b74ef2db743f66a5ea",
			},
		},
		{
			// An aliased subchart (backstage as "upstream") and its
			// postgresql dependency.
			file: "my-chart-with-subchart-alias-0.1.0.tgz",
			want: []string{
				"docker.io/library/nginx:1.16.0",
				"quay.io/fedora/postgresql-15:latest",
				"quay.io/rhdh-community/rhdh:next",
			},
			wantTests: []string{"docker.io/library/busybox:latest"},
		},
		{
			file: "service-binding-operator-1.4.1.tgz",
			want: []string{"quay.io/redhat-developer/servicebinding-operator@sha256:16286ac84ddd521897d92472dae857a4c18479f255b725dfb683bc72df6e0865"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := fixture(t, tt.file)
			d, err := FindImages(context.Background(), c, RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := refs(d.Images); !slices.Equal(got, tt.want) {
				t.Errorf("images:\n got %q\nwant %q", got, tt.want)
			}
			if tt.wantTests != nil {
				if got := refs(d.TestImages); !slices.Equal(got, tt.wantTests) {
					t.Errorf("test images:\n got %q\nwant %q", got, tt.wantTests)
				}
			}
			golden(t, strings.TrimSuffix(tt.file, ".tgz")+".images.json", mustJSON(t, d))
		})
	}
}
