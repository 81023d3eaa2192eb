package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"
)

// ArchiveName returns the file name of a chart's archive in a repository
// directory: <name>-<version>.tgz, as helm package names it.
func ArchiveName(c *Chart) string { return c.Name + "-" + c.Version + ".tgz" }

// WriteRepository writes a classic chart repository into dir, for any
// static web server: each chart's archive byte for byte (and its .prov
// when it has one) and an index.yaml whose URLs are relative, so the
// directory can be served from any address (helm repo add NAME URL). The
// index lists, per chart, every version given, highest first, with the
// archive's sha256 and its Created time; generated is the latest Created,
// so writing the same charts gives the same bytes. Files are written
// atomically; an existing index.yaml is replaced, other files are left.
// Two different archives with one name and version fail with
// [ErrCollision].
//
// Any static web server serves the directory: for example nginx with
// `root <dir>;`, `python3 -m http.server -d <dir> 8080`, or an OpenShift
// HelmChartRepository whose spec.connectionConfig.url names it. Clients
// then run `helm repo add mirror http://host:8080/` and
// `helm pull mirror/<chart> --version X` (with --verify --keyring K for
// charts that carry a .prov).
func WriteRepository(dir string, charts []*Chart) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("helm: repository directory %s: %w", dir, err)
	}
	byFile := map[string]*Chart{}
	entries := map[string][]map[string]any{}
	versions := map[string][]*Chart{}
	var generated time.Time
	for _, c := range charts {
		file := ArchiveName(c)
		if strings.ContainsAny(file, `/\`) || c.Name == "" || c.Version == "" {
			return fmt.Errorf("%w: chart %q version %q cannot be a file name", ErrInvalid, c.Name, c.Version)
		}
		if prev, ok := byFile[file]; ok {
			if prev.Digest() != c.Digest() {
				return fmt.Errorf("%w: %s from %s and from %s differ (%s, %s); write them to different directories", ErrCollision, file, prev.Source, c.Source, prev.Digest(), c.Digest())
			}
			continue
		}
		byFile[file] = c
		versions[c.Name] = append(versions[c.Name], c)
		if c.Created.After(generated) {
			generated = c.Created
		}
	}
	for name, cs := range versions {
		slices.SortStableFunc(cs, func(a, b *Chart) int { return -compareVersions(a.Version, b.Version) })
		for _, c := range cs {
			cfg, err := c.configBlob()
			if err != nil {
				return err
			}
			var e map[string]any
			if err := json.Unmarshal(cfg, &e); err != nil {
				return fmt.Errorf("%w: %s: metadata: %v", ErrChart, c.Source, err)
			}
			created := c.Created
			if created.IsZero() {
				created = PackageEpoch
			}
			e["created"] = created.UTC().Format(time.RFC3339Nano)
			e["digest"] = c.Digest().Encoded()
			e["urls"] = []string{ArchiveName(c)}
			entries[name] = append(entries[name], e)
			if err := writeAtomic(filepath.Join(dir, ArchiveName(c)), c.Archive); err != nil {
				return err
			}
			if c.Provenance != nil {
				if err := writeAtomic(filepath.Join(dir, ArchiveName(c)+".prov"), c.Provenance); err != nil {
					return err
				}
			}
		}
	}
	if generated.IsZero() {
		generated = PackageEpoch
	}
	idx := map[string]any{
		"apiVersion": "v1",
		"entries":    entries,
		"generated":  generated.UTC().Format(time.RFC3339Nano),
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(idx); err != nil {
		return fmt.Errorf("helm: index.yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("helm: index.yaml: %w", err)
	}
	return writeAtomic(filepath.Join(dir, "index.yaml"), b.Bytes())
}

// compareVersions orders semantic versions; versions that are not come
// last, by string.
func compareVersions(a, b string) int {
	va, ea := semver.NewVersion(a)
	vb, eb := semver.NewVersion(b)
	switch {
	case ea == nil && eb == nil:
		return va.Compare(vb)
	case ea == nil:
		return 1
	case eb == nil:
		return -1
	}
	return strings.Compare(a, b)
}

// writeAtomic writes data to path through a temporary file in the same
// directory, synced and renamed into place.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("helm: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("helm: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("helm: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("helm: write %s: %w", path, err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("helm: write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("helm: write %s: %w", path, err)
	}
	return nil
}
