package release

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/enclave-mirror/enclave/ref"
	"github.com/opencontainers/go-digest"
)

// Node is one release in an update graph.
type Node struct {
	// Version is the release version.
	Version Version
	// Payload is the payload image pinned by digest,
	// e.g. quay.io/openshift-release-dev/ocp-release@sha256:....
	Payload string
	// Digest is the digest part of Payload.
	Digest digest.Digest
	// Metadata is the node's metadata (channels, errata URL, ...).
	Metadata map[string]string
}

// Graph is one channel's update graph for one architecture.
type Graph struct {
	// Nodes are the releases, in the server's order.
	Nodes []Node
	// Edges are the recommended updates, [from, to] indexes into Nodes.
	Edges [][2]int
	// Raw is the JSON as served. Carry it verbatim (per channel and
	// architecture) so the receiving side can run ParseGraph and the same
	// selection without reaching the update service.
	Raw json.RawMessage
}

type graphJSON struct {
	Nodes []struct {
		Version  string            `json:"version"`
		Payload  string            `json:"payload"`
		Metadata map[string]string `json:"metadata"`
	} `json:"nodes"`
	Edges [][]int `json:"edges"`
	// ConditionalEdges are updates recommended only when the cluster is not
	// exposed to a named risk; they are parsed (so malformed ones fail) and
	// otherwise ignored, like oc-mirror does.
	ConditionalEdges []struct {
		Edges []struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"edges"`
		Risks []json.RawMessage `json:"risks"`
	} `json:"conditionalEdges"`
}

// ParseGraph parses and validates an update graph answer: every version is
// semver and appears once, every payload is pinned by a sha256 digest, every
// edge indexes a node. Raw in the result is a copy of data.
func ParseGraph(data []byte) (*Graph, error) {
	var gj graphJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&gj); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidGraph, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", ErrInvalidGraph)
	}
	if len(gj.Nodes) > MaxGraphNodes {
		return nil, fmt.Errorf("%w: %d nodes, limit %d", ErrInvalidGraph, len(gj.Nodes), MaxGraphNodes)
	}
	if len(gj.Edges) > MaxGraphNodes*64 {
		return nil, fmt.Errorf("%w: %d edges, limit %d", ErrInvalidGraph, len(gj.Edges), MaxGraphNodes*64)
	}
	g := &Graph{Nodes: make([]Node, 0, len(gj.Nodes)), Edges: make([][2]int, 0, len(gj.Edges))}
	seen := make(map[string]int, len(gj.Nodes))
	for i, n := range gj.Nodes {
		v, err := ParseVersion(n.Version)
		if err != nil {
			return nil, fmt.Errorf("%w: node %d: %w", ErrInvalidGraph, i, err)
		}
		key := v.String()
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: version %s appears at nodes %d and %d", ErrInvalidGraph, key, j, i)
		}
		seen[key] = i
		d, err := DigestOf(n.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: node %d (%s): %w", ErrInvalidGraph, i, key, err)
		}
		g.Nodes = append(g.Nodes, Node{Version: v, Payload: n.Payload, Digest: d, Metadata: n.Metadata})
	}
	for i, e := range gj.Edges {
		if len(e) != 2 {
			return nil, fmt.Errorf("%w: edge %d has %d ends, want 2", ErrInvalidGraph, i, len(e))
		}
		for _, end := range e {
			if end < 0 || end >= len(g.Nodes) {
				return nil, fmt.Errorf("%w: edge %d [%d,%d] indexes outside the %d nodes", ErrInvalidGraph, i, e[0], e[1], len(g.Nodes))
			}
		}
		g.Edges = append(g.Edges, [2]int{e[0], e[1]})
	}
	for i, ce := range gj.ConditionalEdges {
		for _, e := range ce.Edges {
			if _, err := ParseVersion(e.From); err != nil {
				return nil, fmt.Errorf("%w: conditional edge group %d: %w", ErrInvalidGraph, i, err)
			}
			if _, err := ParseVersion(e.To); err != nil {
				return nil, fmt.Errorf("%w: conditional edge group %d: %w", ErrInvalidGraph, i, err)
			}
		}
	}
	g.Raw = append(json.RawMessage(nil), data...)
	return g, nil
}

// Find returns the index of the node with version v, or -1.
func (g *Graph) Find(v Version) int {
	for i, n := range g.Nodes {
		if n.Version.Compare(v) == 0 && n.Version.Build == v.Build {
			return i
		}
	}
	return -1
}

// Head returns the index of the highest version, or -1 for an empty graph.
func (g *Graph) Head() int {
	h := -1
	for i, n := range g.Nodes {
		if h < 0 || n.Version.Compare(g.Nodes[h].Version) > 0 {
			h = i
		}
	}
	return h
}

// DigestOf checks that ref is an image reference pinned by digest
// (registry/repository@sha256:<64 hex>, no tag) and returns the digest.
func DigestOf(s string) (digest.Digest, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: reference %w", ErrInvalidArgument, err)
	}
	switch {
	case r.Digest == "":
		return "", fmt.Errorf("%w: reference %q is not pinned by digest", ErrInvalidArgument, s)
	case r.Digest.Algorithm() != digest.SHA256:
		return "", fmt.Errorf("%w: reference %q: digest algorithm %s, want sha256", ErrInvalidArgument, s, r.Digest.Algorithm())
	case r.Tag != "":
		return "", fmt.Errorf("%w: reference %q carries both a tag and a digest", ErrInvalidArgument, s)
	}
	return r.Digest, nil
}

// RepositoryOf returns the registry/repository part of a digest reference.
func RepositoryOf(ref string) (string, error) {
	if _, err := DigestOf(ref); err != nil {
		return "", err
	}
	return ref[:strings.LastIndex(ref, "@")], nil
}
