package release

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Arch is an architecture as an ImageSetConfiguration and the update graph
// API name it: amd64, arm64, ppc64le, s390x, or multi (the multi-architecture
// payload, a manifest list).
type Arch string

// Architectures known to OpenShift.
const (
	ArchAMD64   Arch = "amd64"
	ArchARM64   Arch = "arm64"
	ArchPPC64LE Arch = "ppc64le"
	ArchS390X   Arch = "s390x"
	ArchMulti   Arch = "multi"
)

// Arches lists the architectures in a stable order.
var Arches = []Arch{ArchAMD64, ArchARM64, ArchPPC64LE, ArchS390X, ArchMulti}

// ParseArch accepts the graph API spelling (amd64, arm64, ...) and the release
// tag spelling (x86_64, aarch64), and returns the former.
func ParseArch(s string) (Arch, error) {
	switch s {
	case "amd64", "x86_64":
		return ArchAMD64, nil
	case "arm64", "aarch64":
		return ArchARM64, nil
	case "ppc64le":
		return ArchPPC64LE, nil
	case "s390x":
		return ArchS390X, nil
	case "multi":
		return ArchMulti, nil
	}
	return "", fmt.Errorf("%w: unknown architecture %q (want amd64, arm64, ppc64le, s390x or multi)", ErrInvalidArgument, s)
}

// ReleaseArch is the spelling used in release tags: quay.io's
// ocp-release:4.15.3-x86_64, -aarch64, -ppc64le, -s390x, -multi.
func (a Arch) ReleaseArch() string {
	switch a {
	case ArchAMD64:
		return "x86_64"
	case ArchARM64:
		return "aarch64"
	}
	return string(a)
}

// Platform is the OCI platform of a single-architecture payload; ok is false
// for multi and unknown values.
func (a Arch) Platform() (p ocispec.Platform, ok bool) {
	switch a {
	case ArchAMD64, ArchARM64, ArchPPC64LE, ArchS390X:
		return ocispec.Platform{OS: "linux", Architecture: string(a)}, true
	}
	return ocispec.Platform{}, false
}

func (a Arch) valid() bool {
	switch a {
	case ArchAMD64, ArchARM64, ArchPPC64LE, ArchS390X, ArchMulti:
		return true
	}
	return false
}
