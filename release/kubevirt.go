package release

import (
	"encoding/json"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// KubeVirtName is the component name of the KubeVirt RHCOS container image
// (oc-mirror's "kube-virt-container"); with several architectures each gets
// a suffix: kube-virt-container-x86_64.
const KubeVirtName = "kube-virt-container"

// kubeVirtKeys maps an architecture to its key in the boot-image stream
// metadata (CoreOS names).
var kubeVirtKeys = map[Arch]string{ArchAMD64: "x86_64", ArchARM64: "aarch64", ArchPPC64LE: "ppc64le", ArchS390X: "s390x"}

// kubeVirtMultiKeys are the stream keys that carry a KubeVirt image today
// (RHCOS 4.15 and later), taken for architecture multi as oc-mirror does.
var kubeVirtMultiKeys = []string{"x86_64", "s390x"}

// KubeVirtStreamKeys returns the boot-image stream keys for the
// architectures of mirror.platform, as oc-mirror chooses them: amd64 and
// s390x map to x86_64 and s390x, multi to both; architectures that ship no
// KubeVirt image (arm64, ppc64le) are left out, and with none left, x86_64.
func KubeVirtStreamKeys(arches []Arch) []string {
	var keys []string
	for _, a := range arches {
		if a == ArchMulti {
			return slices.Clone(kubeVirtMultiKeys)
		}
		if k := kubeVirtKeys[a]; slices.Contains(kubeVirtMultiKeys, k) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return []string{"x86_64"}
	}
	return keys
}

// KubeVirtPlatformKeys returns the boot-image stream keys for
// mirror.platform.platforms, as oc-mirror chooses them there: the key of
// each platform's architecture that ships a KubeVirt image (amd64: x86_64,
// s390x), and with none of them every such key.
func KubeVirtPlatformKeys(architectures []string) []string {
	var keys []string
	for _, a := range architectures {
		if k := kubeVirtKeys[Arch(a)]; slices.Contains(kubeVirtMultiKeys, k) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return slices.Clone(kubeVirtMultiKeys)
	}
	return keys
}

// bootImagesConfigMap is the part of BootImagesPath we read.
type bootImagesConfigMap struct {
	Kind string `yaml:"kind"`
	Data struct {
		Stream string `yaml:"stream"`
	} `yaml:"data"`
}

// bootImagesStream is the part of the stream metadata we read.
type bootImagesStream struct {
	Architectures map[string]struct {
		Images struct {
			Kubevirt struct {
				DigestRef string `json:"digest-ref"`
			} `json:"kubevirt"`
		} `json:"images"`
	} `json:"architectures"`
}

// KubeVirtComponents reads the KubeVirt container image for each stream key
// (see [KubeVirtStreamKeys]) from a payload's BootImagesPath, as components
// named [KubeVirtName] (one key) or KubeVirtName-<key> (several). A key
// without an image is skipped; none found is an error, as in oc-mirror.
func KubeVirtComponents(bootImages []byte, keys []string) ([]Component, error) {
	if bootImages == nil {
		return nil, fmt.Errorf("%w: the payload has no %s, so no KubeVirt container image", ErrInvalidPayload, BootImagesPath)
	}
	var cm bootImagesConfigMap
	if err := yaml.Unmarshal(bootImages, &cm); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidPayload, BootImagesPath, err)
	}
	if cm.Kind != "ConfigMap" || cm.Data.Stream == "" {
		return nil, fmt.Errorf("%w: %s: want a ConfigMap with data.stream", ErrInvalidPayload, BootImagesPath)
	}
	var st bootImagesStream
	if err := json.Unmarshal([]byte(cm.Data.Stream), &st); err != nil {
		return nil, fmt.Errorf("%w: %s: data.stream: %w", ErrInvalidPayload, BootImagesPath, err)
	}
	var out []Component
	for _, k := range keys {
		ref := st.Architectures[k].Images.Kubevirt.DigestRef
		if ref == "" {
			continue
		}
		d, err := DigestOf(ref)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s kubevirt digest-ref: %w", ErrInvalidPayload, BootImagesPath, k, err)
		}
		name := KubeVirtName
		if len(keys) > 1 {
			name += "-" + k
		}
		out = append(out, Component{Name: name, Image: ref, Digest: d})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s names no KubeVirt container image for %v", ErrInvalidPayload, BootImagesPath, keys)
	}
	return out, nil
}
