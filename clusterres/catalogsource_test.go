package clusterres

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const catalogImage = "mirror.local:5000/pfx/redhat/redhat-operator-index@sha256:" + "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"

func TestCatalogName(t *testing.T) {
	tests := []struct {
		repo, tag, want string
	}{
		{"mirror.local:5000/pfx/redhat/redhat-operator-index", "v4.18", "enclave-0123456789ab-redhat-operator-index-v4-18"},
		{"mirror.local:5000/redhat/redhat-operator-index", "sha256-d2b1c0ffee0123456789", "enclave-0123456789ab-redhat-operator-index-sha256-d2b1c"},
		{"reg/Org/My_Catalog", "", "enclave-0123456789ab-my-catalog"},
		{"reg/" + strings.Repeat("very-long-catalog-name", 4), "v4.18.0-filtered", "enclave-0123456789ab-very-long-catalog-namevery-lo-v4-18-0-filt"},
	}
	for _, tt := range tests {
		got, err := CatalogName(archiveDigest, tt.repo, tt.tag)
		if err != nil || got != tt.want {
			t.Errorf("CatalogName(%q, %q) = %q, %v; want %q", tt.repo, tt.tag, got, err, tt.want)
		}
		if len(got) > MaxCatalogNameLength {
			t.Errorf("%q longer than %d", got, MaxCatalogNameLength)
		}
	}
	// Two archives, the same catalog: two names.
	a, _ := CatalogName(archiveDigest, "reg/idx", "v1")
	b, _ := CatalogName(digest.FromString("another archive"), "reg/idx", "v1")
	if a == b {
		t.Errorf("two archives share the name %q", a)
	}
	if _, err := CatalogName(archiveDigest, "reg/---", "..."); !errors.Is(err, ErrInvalidName) {
		t.Errorf("error %v, want ErrInvalidName", err)
	}
}

func encode(t *testing.T, r Resource) []byte {
	t.Helper()
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCatalogSourceGolden(t *testing.T) {
	name, _ := CatalogName(archiveDigest, "mirror.local:5000/pfx/redhat/redhat-operator-index", "v4.18")
	r, err := CatalogSource(name, catalogImage, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.FileName() != "catalogsource_openshift-marketplace_"+name+".yaml" {
		t.Errorf("file name %s", r.FileName())
	}
	golden(t, r.FileName()+".golden", encode(t, r))

	cc, err := ClusterCatalog(name, catalogImage)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, cc.FileName()+".golden", encode(t, cc))
}

const template = `apiVersion: operators.coreos.com/v1alpha1
kind: CatalogSource
metadata:
  name: to-be-replaced
  namespace: somewhere-else
  annotations:
    team: platform
spec:
  sourceType: grpc
  image: to-be-replaced
  displayName: Red Hat Operators (mirrored)
  publisher: Platform team
  updateStrategy:
    registryPoll:
      interval: 30m
  grpcPodConfig:
    nodeSelector:
      node-role.kubernetes.io/infra: ""
    securityContextConfig: restricted
`

func TestCatalogSourceTemplate(t *testing.T) {
	r, err := CatalogSource("enclave-0123456789ab-redhat-operator-index-v4-18", catalogImage, []byte(template), true)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "catalogsource_template.yaml.golden", encode(t, r))
}

func TestCatalogSourceErrors(t *testing.T) {
	const name = "enclave-0123456789ab-idx"
	tests := []struct {
		name, image, template string
		withoutCache          bool
		wantErr               error
		errHas                string
	}{
		{"tag instead of digest", "reg/idx:v1", "", true, ErrInvalidMirror, "want a reference by digest"},
		{"bad name", catalogImage, "", true, ErrInvalidName, "DNS-1035"},
		{"wrong kind", catalogImage, "apiVersion: v1\nkind: ConfigMap\n", true, ErrInvalidTemplate, "want operators.coreos.com/v1alpha1 CatalogSource"},
		{"configMap", catalogImage, "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nspec:\n  configMap: x\n", true, ErrInvalidTemplate, "configMap"},
		{"internal source", catalogImage, "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nspec:\n  sourceType: internal\n", true, ErrInvalidTemplate, "sourceType internal"},
		{"extractContent without cache", catalogImage, "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nspec:\n  grpcPodConfig:\n    extractContent:\n      catalogDir: /configs\n      cacheDir: /tmp/cache\n", true, ErrInvalidTemplate, "OCPBUGS-109376"},
		{"extractContent with the original cache", catalogImage, "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nspec:\n  grpcPodConfig:\n    extractContent:\n      catalogDir: /configs\n      cacheDir: /tmp/cache\n", false, nil, ""},
		{"not YAML", catalogImage, "{", true, ErrInvalidTemplate, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := name
			if tt.wantErr == ErrInvalidName {
				n = "1-Bad_Name"
			}
			_, err := CatalogSource(n, tt.image, []byte(tt.template), tt.withoutCache)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want %v saying %q", err, tt.wantErr, tt.errHas)
			}
		})
	}
	if _, err := ClusterCatalog(name, "reg/idx:latest"); !errors.Is(err, ErrInvalidMirror) {
		t.Errorf("ClusterCatalog by tag: %v", err)
	}
}
