package releasetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// Channel describes one channel of a synthetic update graph.
type Channel struct {
	Name     string
	Versions []string
	// Edges are [from, to] versions.
	Edges [][2]string
	// Conditional are conditional edges ([from, to]) with one made-up risk.
	Conditional [][2]string
}

// GraphKey names one graph: a channel for an architecture.
type GraphKey struct {
	Channel string
	Arch    string
}

// PayloadRepo is the payload repository FakePayload uses.
const PayloadRepo = "quay.io/openshift-release-dev/ocp-release"

// FakePayload returns a stable, digest-pinned payload reference for a
// version and architecture, for graph-only tests that never pull it.
func FakePayload(version, arch string) string {
	sum := sha256.Sum256([]byte("payload " + version + " " + arch))
	return PayloadRepo + "@sha256:" + hex.EncodeToString(sum[:])
}

// RealisticChannels returns two channels for arch, shaped like the real
// ones: stable-4.15 (4.14.20 to 4.15.6, with 4.15.4 pulled and skip edges)
// and fast-4.16 (late 4.15.z, 4.16.0 to 4.16.3, with 4.15 -> 4.16 edges).
// arm64 lags: its fast-4.16 has no 4.16.3 yet.
//
// Interesting facts tests rely on:
//   - stable-4.15 head is 4.15.6; fast-4.16 head is 4.16.3 (4.16.2 on arm64);
//   - shortest path 4.14.20 -> 4.15.6 is 4.14.20, 4.15.0, 4.15.3, 4.15.6;
//   - 4.15.0 -> 4.15.5 has two 2-hop paths, via 4.15.2 and via 4.15.3;
//   - 4.15.5 and 4.15.6 are in both channels (same payloads);
//   - nothing leads to 4.14.20 (it is only a start);
//   - 4.15.1 -> 4.15.3 is also offered as a conditional edge.
func RealisticChannels(arch string) []Channel {
	stable := Channel{
		Name:     "stable-4.15",
		Versions: []string{"4.15.3", "4.14.21", "4.15.0", "4.15.6", "4.14.20", "4.15.2", "4.15.5", "4.15.1"},
		Edges: [][2]string{
			{"4.14.20", "4.14.21"}, {"4.14.20", "4.15.0"}, {"4.14.21", "4.15.1"}, {"4.14.21", "4.15.2"},
			{"4.15.0", "4.15.1"}, {"4.15.0", "4.15.2"}, {"4.15.0", "4.15.3"},
			{"4.15.1", "4.15.2"},
			{"4.15.2", "4.15.3"}, {"4.15.2", "4.15.5"},
			{"4.15.3", "4.15.5"}, {"4.15.3", "4.15.6"},
			{"4.15.5", "4.15.6"},
		},
		Conditional: [][2]string{{"4.15.1", "4.15.3"}},
	}
	fast := Channel{
		Name:     "fast-4.16",
		Versions: []string{"4.16.1", "4.15.5", "4.16.0", "4.16.3", "4.15.6", "4.16.2"},
		Edges: [][2]string{
			{"4.15.5", "4.15.6"}, {"4.15.5", "4.16.0"}, {"4.15.6", "4.16.1"},
			{"4.16.0", "4.16.1"}, {"4.16.0", "4.16.2"}, {"4.16.1", "4.16.2"}, {"4.16.1", "4.16.3"}, {"4.16.2", "4.16.3"},
		},
	}
	if arch == "arm64" {
		fast.Versions = slices.DeleteFunc(fast.Versions, func(v string) bool { return v == "4.16.3" })
		fast.Edges = slices.DeleteFunc(fast.Edges, func(e [2]string) bool { return e[1] == "4.16.3" })
	}
	return []Channel{stable, fast}
}

// GraphJSON renders ch as the update graph API does; payload maps a version
// to its digest-pinned payload reference.
func GraphJSON(ch Channel, payload func(version string) string) []byte {
	type node struct {
		Version  string            `json:"version"`
		Payload  string            `json:"payload"`
		Metadata map[string]string `json:"metadata"`
	}
	type cedge struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	type risk struct {
		URL           string `json:"url"`
		Name          string `json:"name"`
		Message       string `json:"message"`
		MatchingRules []any  `json:"matchingRules"`
	}
	type conditional struct {
		Edges []cedge `json:"edges"`
		Risks []risk  `json:"risks"`
	}
	var doc struct {
		Nodes            []node        `json:"nodes"`
		Edges            [][2]int      `json:"edges"`
		ConditionalEdges []conditional `json:"conditionalEdges"`
	}
	index := map[string]int{}
	for i, v := range ch.Versions {
		index[v] = i
		doc.Nodes = append(doc.Nodes, node{Version: v, Payload: payload(v), Metadata: map[string]string{
			"io.openshift.upgrades.graph.release.channels": ch.Name,
			"url": "https://access.redhat.com/errata/RHBA-2024:" + strings.ReplaceAll(v, ".", ""),
		}})
	}
	for _, e := range ch.Edges {
		doc.Edges = append(doc.Edges, [2]int{index[e[0]], index[e[1]]})
	}
	doc.ConditionalEdges = []conditional{}
	for _, e := range ch.Conditional {
		doc.ConditionalEdges = append(doc.ConditionalEdges, conditional{
			Edges: []cedge{{From: e[0], To: e[1]}},
			Risks: []risk{{URL: "https://issues.redhat.com/browse/OCPBUGS-1", Name: "MadeUpRisk", Message: "test risk",
				MatchingRules: []any{map[string]any{"type": "Always"}}}},
		})
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

// RealisticGraphs renders RealisticChannels for amd64 and arm64. payload
// may be nil for FakePayload.
func RealisticGraphs(payload func(version, arch string) string) map[GraphKey][]byte {
	if payload == nil {
		payload = FakePayload
	}
	out := map[GraphKey][]byte{}
	for _, arch := range []string{"amd64", "arm64"} {
		for _, ch := range RealisticChannels(arch) {
			out[GraphKey{ch.Name, arch}] = GraphJSON(ch, func(v string) string { return payload(v, arch) })
		}
	}
	return out
}

// GraphServer is a fake update graph API: GET /?channel=&arch= with
// Accept: application/json. Unknown channels get an empty graph, as the
// real service answers.
type GraphServer struct {
	*httptest.Server
	mu       sync.Mutex
	graphs   map[GraphKey][]byte
	failures []int
	requests []string
}

// NewGraphServer starts a server for graphs on loopback; Close stops it.
func NewGraphServer(graphs map[GraphKey][]byte) *GraphServer {
	s := &GraphServer{graphs: graphs}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next len(codes) requests answer with these statuses.
func (s *GraphServer) FailNext(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, codes...)
}

// Requests returns the raw queries received, in order.
func (s *GraphServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *GraphServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.RawQuery)
	var fail int
	if len(s.failures) > 0 {
		fail, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()
	if fail != 0 {
		if fail == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		http.Error(w, fmt.Sprintf("injected failure %d", fail), fail)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Accept") != "application/json" {
		http.Error(w, "Accept must be application/json", http.StatusNotAcceptable)
		return
	}
	q := r.URL.Query()
	if q.Get("channel") == "" || q.Get("arch") == "" {
		http.Error(w, "channel and arch are required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	data, ok := s.graphs[GraphKey{q.Get("channel"), q.Get("arch")}]
	s.mu.Unlock()
	if !ok {
		data = []byte(`{"nodes":[],"edges":[],"conditionalEdges":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}
