package release

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
)

// ChannelSpec is one entry of an ImageSetConfiguration's
// mirror.platform.channels, for one architecture.
//
// Semantics (those of oc-mirror v2, v2/internal/pkg/release/cincinnati.go):
//
//   - neither bound: the channel head only (highest version); with Full,
//     every release in the channel;
//   - MinVersion and MaxVersion: every release in [min, max];
//   - only MinVersion: every release in [min, head];
//   - only MaxVersion: every release from the channel's lowest version up to
//     max (oc-mirror fills a missing minimum with the channel minimum; it
//     does not mean "max only");
//   - ShortestPath: instead of every release in the range, only the releases
//     on the shortest upgrade path from the lower to the upper bound,
//     following the graph's edges. Ties are broken towards higher versions
//     (the newest z-stream at each hop, as oc-mirror does), so the result is
//     deterministic. An unreachable upper bound is an error.
//
// Bounds given for ShortestPath must be releases in the channel; range bounds
// need not be, but an empty result is an error (usually a typo). Full and
// ShortestPath together are rejected.
type ChannelSpec struct {
	Name         string
	Type         Product
	MinVersion   string
	MaxVersion   string
	ShortestPath bool
	Full         bool
}

// Release is a selected release payload.
type Release struct {
	Version Version
	// Payload is the payload reference pinned by digest, as in the graph.
	Payload string
	Digest  digest.Digest
	Arch    Arch
	// Channels are the channels that selected it, sorted.
	Channels []string
	Metadata map[string]string
}

// SelectChannel applies spec to one channel graph and returns the selected
// releases sorted by ascending version. arch is recorded in the results.
func SelectChannel(g *Graph, arch Arch, spec ChannelSpec) ([]Release, error) {
	idx, err := selectIdx(g, spec)
	if err != nil {
		return nil, fmt.Errorf("%w: channel %s (%s): %w", ErrSelection, spec.Name, arch, err)
	}
	out := make([]Release, 0, len(idx))
	for _, i := range idx {
		n := g.Nodes[i]
		out = append(out, Release{Version: n.Version, Payload: n.Payload, Digest: n.Digest,
			Arch: arch, Channels: []string{spec.Name}, Metadata: n.Metadata})
	}
	slices.SortFunc(out, func(a, b Release) int { return a.Version.Compare(b.Version) })
	return out, nil
}

func selectIdx(g *Graph, spec ChannelSpec) ([]int, error) {
	if spec.Full && spec.ShortestPath {
		return nil, errors.New("full and shortestPath are mutually exclusive")
	}
	head := g.Head()
	if head < 0 {
		return nil, errors.New("the channel has no releases")
	}
	var lo, hi *Version
	for _, b := range []struct {
		s   string
		dst **Version
		n   string
	}{{spec.MinVersion, &lo, "minVersion"}, {spec.MaxVersion, &hi, "maxVersion"}} {
		if b.s == "" {
			continue
		}
		v, err := ParseVersion(b.s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.n, err)
		}
		*b.dst = &v
	}
	if lo != nil && hi != nil && lo.Compare(*hi) > 0 {
		return nil, fmt.Errorf("minVersion %s is above maxVersion %s", lo, hi)
	}
	if lo == nil && hi == nil && !spec.Full && !spec.ShortestPath {
		return []int{head}, nil
	}
	if spec.ShortestPath {
		from, to := -1, head
		if lo != nil {
			if from = g.Find(*lo); from < 0 {
				return nil, fmt.Errorf("minVersion %s is not in the channel", lo)
			}
		}
		if hi != nil {
			if to = g.Find(*hi); to < 0 {
				return nil, fmt.Errorf("maxVersion %s is not in the channel", hi)
			}
		}
		if from < 0 {
			from = lowest(g)
		}
		return shortestPath(g, from, to)
	}
	var idx []int
	for i, n := range g.Nodes {
		if lo != nil && n.Version.Compare(*lo) < 0 || hi != nil && n.Version.Compare(*hi) > 0 {
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("no release between %s and %s", orStr(lo, "the lowest"), orStr(hi, "the head"))
	}
	return idx, nil
}

func orStr(v *Version, def string) string {
	if v == nil {
		return def
	}
	return v.String()
}

func lowest(g *Graph) int {
	l := 0
	for i, n := range g.Nodes {
		if n.Version.Compare(g.Nodes[l].Version) < 0 {
			l = i
		}
	}
	return l
}

// shortestPath is a breadth-first search over the edges; neighbours are
// visited in descending version order so ties go to the newest release.
func shortestPath(g *Graph, from, to int) ([]int, error) {
	adj := make([][]int, len(g.Nodes))
	for _, e := range g.Edges {
		adj[e[0]] = append(adj[e[0]], e[1])
	}
	for i := range adj {
		slices.SortFunc(adj[i], func(a, b int) int { return g.Nodes[b].Version.Compare(g.Nodes[a].Version) })
		adj[i] = slices.Compact(adj[i])
	}
	prev := make([]int, len(g.Nodes))
	for i := range prev {
		prev[i] = -2 // unvisited
	}
	prev[from] = -1
	queue := []int{from}
	for len(queue) > 0 && prev[to] == -2 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range adj[n] {
			if prev[m] == -2 {
				prev[m] = n
				queue = append(queue, m)
			}
		}
	}
	if prev[to] == -2 {
		return nil, fmt.Errorf("no upgrade path from %s to %s", g.Nodes[from].Version, g.Nodes[to].Version)
	}
	var path []int
	for n := to; n != -1; n = prev[n] {
		path = append(path, n)
	}
	slices.Reverse(path)
	return path, nil
}

// ChannelGraph pairs a channel selection with the graph fetched for it.
type ChannelGraph struct {
	Spec  ChannelSpec
	Arch  Arch
	Graph *Graph
}

// Select applies every channel's spec and returns the union, de-duplicated by
// payload digest (a release found in several channels appears once, with all
// their names in Channels). The result is sorted by architecture (in Arches
// order), then version. The first error is returned, naming its channel.
func Select(channels []ChannelGraph) ([]Release, error) {
	byDigest := map[digest.Digest]int{}
	var out []Release
	for _, cg := range channels {
		if cg.Graph == nil {
			return nil, fmt.Errorf("%w: channel %s (%s) has no graph", ErrInvalidArgument, cg.Spec.Name, cg.Arch)
		}
		rs, err := SelectChannel(cg.Graph, cg.Arch, cg.Spec)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if i, ok := byDigest[r.Digest]; ok {
				if !slices.Contains(out[i].Channels, cg.Spec.Name) {
					out[i].Channels = append(out[i].Channels, cg.Spec.Name)
					slices.Sort(out[i].Channels)
				}
				continue
			}
			byDigest[r.Digest] = len(out)
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Release) int {
		if c := cmp.Compare(slices.Index(Arches, a.Arch), slices.Index(Arches, b.Arch)); c != 0 {
			return c
		}
		if c := a.Version.Compare(b.Version); c != 0 {
			return c
		}
		return cmp.Compare(a.Digest, b.Digest)
	})
	return out, nil
}
