package clusterres

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/enclave-mirror/enclave/internal/fsutil"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Errors returned by this package wrap one of these.
var (
	// ErrInvalidName: a resource name is not a DNS-1123 subdomain.
	ErrInvalidName = errors.New("clusterres: invalid resource name")
	// ErrInvalidMirror: a source or mirror repository is malformed.
	ErrInvalidMirror = errors.New("clusterres: invalid mirror")
	// ErrConflict: two resources would be written to the same file.
	ErrConflict = errors.New("clusterres: conflicting resources")
)

// MaxNameLength is the longest DNS-1123 subdomain, the limit Kubernetes puts
// on most object names.
const MaxNameLength = 253

// ManagedByLabel is set to "enclave" on every resource, so that
// `oc get idms,itms -l app.kubernetes.io/managed-by=enclave` finds them.
const ManagedByLabel = "app.kubernetes.io/managed-by"

var dns1123Re = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// ValidateName reports whether name is a valid object name: a DNS-1123
// subdomain (lower-case alphanumerics, '-' and '.', starting and ending
// alphanumeric, at most 253 characters). Errors wrap [ErrInvalidName].
func ValidateName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalidName, name, MaxNameLength)
	}
	if !dns1123Re.MatchString(name) {
		return fmt.Errorf("%w: %q is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)", ErrInvalidName, name)
	}
	return nil
}

// Resource is one Kubernetes object ready to be written as a YAML file.
type Resource struct {
	// Kind and Name identify the object; Namespace is empty for
	// cluster-scoped kinds. They decide the file name.
	Kind, Name, Namespace string
	// Object is the whole object (apiVersion, kind, metadata, spec) as a
	// value yaml.v3 can marshal; its field order is the output order.
	Object any
}

// FileName is the name the resource is written under:
// "<kind in lower case>_<name>.yaml", or "<kind>_<namespace>_<name>.yaml"
// for a namespaced object. '_' cannot occur in names or kinds, so distinct
// objects never share a file name.
func (r Resource) FileName() string {
	parts := []string{strings.ToLower(r.Kind)}
	if r.Namespace != "" {
		parts = append(parts, r.Namespace)
	}
	return strings.Join(append(parts, r.Name), "_") + ".yaml"
}

// Encode returns the object as a YAML document (2-space indent).
func (r Resource) Encode() ([]byte, error) {
	if r.Kind == "" || strings.ContainsAny(r.Kind, "/_. ") {
		return nil, fmt.Errorf("clusterres: invalid kind %q", r.Kind)
	}
	if err := ValidateName(r.Name); err != nil {
		return nil, err
	}
	if r.Namespace != "" {
		if err := ValidateName(r.Namespace); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r.Object); err != nil {
		return nil, fmt.Errorf("clusterres: encoding %s %s: %w", r.Kind, r.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("clusterres: encoding %s %s: %w", r.Kind, r.Name, err)
	}
	return buf.Bytes(), nil
}

// WriteDir writes each resource to dir/FileName(), creating dir if needed,
// and returns the paths written, in input order (on error, those written
// before it). Every resource is encoded before any file is touched; each
// file is written to a temporary name in dir, synced, and renamed into
// place, so a reader sees either the old file or the new one, never a
// partial one. Two resources with the same file name are an [ErrConflict]
// error.
func WriteDir(dir string, resources ...Resource) ([]string, error) {
	data := make([][]byte, len(resources))
	seen := map[string]bool{}
	for i, r := range resources {
		b, err := r.Encode()
		if err != nil {
			return nil, err
		}
		data[i] = b
		if seen[r.FileName()] {
			return nil, fmt.Errorf("%w: two resources named %s", ErrConflict, r.FileName())
		}
		seen[r.FileName()] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("clusterres: %w", err)
	}
	paths := make([]string, 0, len(resources))
	for i, r := range resources {
		p := filepath.Join(dir, r.FileName())
		if err := writeFile(p, data[i]); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	if err := syncDir(dir); err != nil {
		return paths, err
	}
	return paths, nil
}

func writeFile(path string, data []byte) error {
	if err := fsutil.WriteFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("clusterres: writing %s: %w", path, err)
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("clusterres: syncing %s: %w", dir, err)
	}
	return nil
}
