package release_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/release"
)

func TestNaming(t *testing.T) {
	v := release.MustParseVersion("4.15.3")
	tests := []struct {
		arch release.Arch
		want string
	}{
		{release.ArchAMD64, "4.15.3-x86_64"},
		{release.ArchARM64, "4.15.3-aarch64"},
		{release.ArchPPC64LE, "4.15.3-ppc64le"},
		{release.ArchS390X, "4.15.3-s390x"},
		{release.ArchMulti, "4.15.3-multi"},
	}
	for _, tt := range tests {
		got, err := release.PayloadTag(v, tt.arch)
		if err != nil || got != tt.want {
			t.Errorf("PayloadTag(%s) = %q, %v; want %q", tt.arch, got, err, tt.want)
		}
		back, err := release.ParseArch(strings.TrimPrefix(tt.want, "4.15.3-"))
		if err != nil || back != tt.arch {
			t.Errorf("ParseArch(%s) = %s, %v", tt.want, back, err)
		}
	}
	if _, err := release.PayloadTag(v, "riscv64"); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("unknown arch: %v", err)
	}

	got, err := release.PayloadDestination("registry.internal:5000/mirror/", release.MustParseVersion("4.16.0-rc.2"), release.ArchAMD64)
	if err != nil || got != "registry.internal:5000/mirror/openshift/release-images:4.16.0-rc.2-x86_64" {
		t.Errorf("PayloadDestination = %q, %v", got, err)
	}
	got, err = release.ComponentDestination("registry.internal:5000", v, release.ArchAMD64, "cluster-version-operator")
	if err != nil || got != "registry.internal:5000/openshift/release:4.15.3-x86_64-cluster-version-operator" {
		t.Errorf("ComponentDestination = %q, %v", got, err)
	}
	if _, err := release.ComponentTag(v, release.ArchAMD64, strings.Repeat("a", 120)); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("over-long tag: %v", err)
	}
	if _, err := release.ComponentTag(v, release.ArchAMD64, "a/b"); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("bad component: %v", err)
	}
}

func TestReleaseMirrors(t *testing.T) {
	got, err := release.ReleaseMirrors("mirror.internal/ocp",
		[]string{release.OCPReleaseRepo + "@" + d1, release.OCPReleaseRepo + "@" + d2},
		[]release.Component{{Name: "etcd", Image: release.OCPComponentRepo + "@" + d1}, {Name: "cli", Image: release.OCPComponentRepo + "@" + d2}})
	if err != nil {
		t.Fatal(err)
	}
	want := []release.MirrorPair{
		{Source: "quay.io/openshift-release-dev/ocp-release", Mirror: "mirror.internal/ocp/openshift/release-images"},
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev", Mirror: "mirror.internal/ocp/openshift/release"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
	if _, err := release.ReleaseMirrors("m", []string{"quay.io/x:latest"}, nil); err == nil {
		t.Fatal("tag reference accepted")
	}
}
