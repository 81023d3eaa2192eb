package release_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
	"oras.land/oras-go/v2/content/memory"
)

func TestKubeVirtComponents(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	gen := &releasetest.Generator{Payloads: mem, PayloadRepo: "quay.io/openshift-release-dev/ocp-release",
		Components: mem, ComponentRepo: "quay.io/openshift-release-dev/ocp-v4.0-art-dev", Seed: 3, KubeVirt: true}
	pushed, err := gen.Push(ctx, releasetest.ReleaseSpec{Version: "4.17.3", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{BootImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Components) != len(releasetest.DefaultComponents) {
		t.Fatalf("components = %v (the KubeVirt image is not an image-references tag)", p.Components)
	}
	tests := []struct {
		arches []release.Arch
		want   string // name=image, ...
	}{
		{[]release.Arch{release.ArchAMD64}, "kube-virt-container=" + pushed.KubeVirt},
		{[]release.Arch{release.ArchARM64}, "kube-virt-container=" + pushed.KubeVirt}, // no aarch64 image: x86_64, as oc-mirror
		{[]release.Arch{release.ArchAMD64, release.ArchS390X}, "kube-virt-container-x86_64=" + pushed.KubeVirt + ",kube-virt-container-s390x=" + pushed.KubeVirt},
		{[]release.Arch{release.ArchMulti}, "kube-virt-container-x86_64=" + pushed.KubeVirt + ",kube-virt-container-s390x=" + pushed.KubeVirt},
	}
	for _, tt := range tests {
		cs, err := release.KubeVirtComponents(p.BootImages, release.KubeVirtStreamKeys(tt.arches))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			if c.Digest.String() != pushed.KubeVirt[strings.LastIndex(pushed.KubeVirt, "@")+1:] {
				t.Errorf("%s: digest %s", c.Name, c.Digest)
			}
			got = append(got, c.Name+"="+c.Image)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%v: %v, want %s", tt.arches, got, tt.want)
		}
	}
	// Without BootImages the file is not read; a payload without it has none.
	p, err = release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{})
	if err != nil || p.BootImages != nil {
		t.Fatalf("BootImages read unasked: %v", err)
	}
	if _, err := release.KubeVirtComponents(nil, []string{"x86_64"}); !errors.Is(err, release.ErrInvalidPayload) {
		t.Fatalf("no boot images: %v", err)
	}
	if _, err := release.KubeVirtComponents(releasetest.BootImagesConfigMap("4.17.3", pushed.KubeVirt), []string{"aarch64"}); !errors.Is(err, release.ErrInvalidPayload) || !strings.Contains(err.Error(), "names no KubeVirt container image") {
		t.Fatalf("no image for the key: %v", err)
	}
	if _, err := release.KubeVirtComponents(releasetest.BootImagesConfigMap("4.17.3", "quay.io/x/y:latest"), []string{"x86_64"}); !errors.Is(err, release.ErrInvalidPayload) {
		t.Fatalf("unpinned digest-ref: %v", err)
	}
}

// TestKubeVirtPlatformKeys: with mirror.platform.platforms, oc-mirror takes
// the stream key of each platform's architecture that ships a KubeVirt
// image, and every such key when none does.
func TestKubeVirtPlatformKeys(t *testing.T) {
	for _, tt := range []struct {
		arches []string
		want   string
	}{
		{[]string{"amd64"}, "x86_64"},
		{[]string{"s390x", "amd64", "amd64"}, "s390x,x86_64"},
		{[]string{"arm64", "amd64"}, "x86_64"},
		{[]string{"arm64"}, "x86_64,s390x"},
		{nil, "x86_64,s390x"},
	} {
		if got := strings.Join(release.KubeVirtPlatformKeys(tt.arches), ","); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.arches, got, tt.want)
		}
	}
}
