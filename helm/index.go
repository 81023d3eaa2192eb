package helm

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
)

// Index is the part of a repository's index.yaml that was asked for.
type Index struct {
	// APIVersion is the index's apiVersion ("v1").
	APIVersion string
	// Entries holds the versions of the charts asked for, by chart name,
	// in index order.
	Entries map[string][]*ChartVersion
	// Names lists every chart name of the index, in index order.
	Names []string
}

// ChartVersion is one entry of an index: a chart version's Chart.yaml
// fields plus where to fetch it.
type ChartVersion struct {
	Name    string
	Version string
	// URLs are the archive's locations, absolute or relative to the
	// repository URL; the first is used.
	URLs []string
	// Digest is the hex sha256 of the archive, empty when the index gives
	// none.
	Digest string
	// Created is the entry's creation time, zero when absent.
	Created time.Time
	// Removed marks an entry the repository withdrew.
	Removed bool
}

// ParseIndex reads an index.yaml (YAML or JSON), decoding only the entries
// of the charts named (all if none is named). It reads at most
// limits.MaxIndexBytes and accepts at most limits.MaxIndexEntries versions;
// errors wrap [ErrIndex] or [ErrTooLarge]. what names the index in
// messages (a redacted URL or a file name).
func ParseIndex(r io.Reader, what string, limits Limits, names ...string) (*Index, error) {
	limits = limits.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, limits.MaxIndexBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, what, err)
	}
	if int64(len(data)) > limits.MaxIndexBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes; raise the index size limit if the repository is that large", ErrTooLarge, what, limits.MaxIndexBytes)
	}
	return parseIndex(data, what, limits, names)
}

func parseIndex(data []byte, what string, limits Limits, names []string) (*Index, error) {
	// A UTF-8 byte order mark is accepted, as helm does.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIndex, what, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s: not a mapping (is this a chart repository?)", ErrIndex, what)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	idx := &Index{Entries: map[string][]*ChartVersion{}}
	root := doc.Content[0]
	var entries *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "apiVersion":
			idx.APIVersion = root.Content[i+1].Value
		case "entries":
			entries = root.Content[i+1]
		}
	}
	if idx.APIVersion == "" {
		return nil, fmt.Errorf("%w: %s: no apiVersion (is this a chart repository?)", ErrIndex, what)
	}
	if entries == nil || entries.Kind != yaml.MappingNode {
		if entries != nil && entries.Kind == yaml.ScalarNode && entries.ShortTag() == "!!null" {
			return idx, nil
		}
		return nil, fmt.Errorf("%w: %s: no entries mapping", ErrIndex, what)
	}
	total := 0
	for i := 0; i+1 < len(entries.Content); i += 2 {
		name, list := entries.Content[i].Value, entries.Content[i+1]
		idx.Names = append(idx.Names, name)
		if list.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%w: %s: entries.%s is not a list", ErrIndex, what, name)
		}
		total += len(list.Content)
		if total > limits.MaxIndexEntries {
			return nil, fmt.Errorf("%w: %s lists more than %d chart versions", ErrTooLarge, what, limits.MaxIndexEntries)
		}
		if len(want) > 0 && !want[name] {
			continue
		}
		for j, n := range list.Content {
			var e struct {
				Name    string   `yaml:"name"`
				Version string   `yaml:"version"`
				URLs    []string `yaml:"urls"`
				Digest  string   `yaml:"digest"`
				Created string   `yaml:"created"`
				Removed bool     `yaml:"removed"`
			}
			if err := n.Decode(&e); err != nil {
				return nil, fmt.Errorf("%w: %s: entries.%s[%d] (line %d): %v", ErrIndex, what, name, j, n.Line, err)
			}
			cv := &ChartVersion{Name: e.Name, Version: e.Version, URLs: e.URLs, Digest: e.Digest, Removed: e.Removed}
			if cv.Name == "" {
				cv.Name = name
			}
			if e.Created != "" {
				t, err := time.Parse(time.RFC3339Nano, e.Created)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: entries.%s[%d] (line %d): created %q is not an RFC 3339 time", ErrIndex, what, name, j, n.Line, e.Created)
				}
				cv.Created = t
			}
			idx.Entries[name] = append(idx.Entries[name], cv)
		}
	}
	return idx, nil
}

// Get returns the version of chart name that version selects (see
// [SelectVersion]); removed entries and entries without URLs are skipped.
// Errors wrap [ErrNotFound] or [ErrInvalid].
func (i *Index) Get(name, version string) (*ChartVersion, error) {
	var vs []string
	by := map[string]*ChartVersion{}
	for _, cv := range i.Entries[name] {
		if cv.Removed || len(cv.URLs) == 0 {
			continue
		}
		if _, dup := by[cv.Version]; !dup {
			by[cv.Version] = cv
			vs = append(vs, cv.Version)
		}
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: chart %q is not in the index", ErrNotFound, name)
	}
	v, err := SelectVersion(vs, version)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", name, err)
	}
	return by[v], nil
}
