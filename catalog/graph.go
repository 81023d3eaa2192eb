package catalog

import (
	"fmt"
	"slices"
)

// graph is a channel's upgrade graph: edges are replaces and skips between
// entries of the channel (skipRange is not an edge, as for opm and
// oc-mirror's filter).
type graph struct {
	ch      *Channel
	entries map[string]*Entry
	head    string
}

// newGraph checks the channel as oc-mirror's filter and opm do (no entries,
// duplicates, self edges, heads, cycles) and finds its head. Errors wrap
// [ErrInvalidGraph] and name the package and channel.
func newGraph(ch *Channel) (*graph, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: package %q channel %q: %s", ErrInvalidGraph, ch.Package, ch.Name, fmt.Sprintf(format, a...))
	}
	if len(ch.Entries) == 0 {
		return nil, fail("channel has no entries")
	}
	g := &graph{ch: ch, entries: make(map[string]*Entry, len(ch.Entries))}
	for i := range ch.Entries {
		e := &ch.Entries[i]
		if g.entries[e.Name] != nil {
			return nil, fail("duplicate channel entry %q", e.Name)
		}
		g.entries[e.Name] = e
	}
	incoming := map[string]bool{}
	for _, e := range ch.Entries {
		if e.Replaces == e.Name {
			return nil, fail("entry %q replaces itself", e.Name)
		}
		if e.Replaces != "" {
			incoming[e.Replaces] = true
		}
		for _, s := range e.Skips {
			if s == e.Name {
				return nil, fail("entry %q skips itself", e.Name)
			}
			incoming[s] = true
		}
	}
	var heads []string
	for _, e := range ch.Entries {
		if !incoming[e.Name] {
			heads = append(heads, e.Name)
		}
	}
	switch {
	case len(heads) == 0:
		return nil, fail("no channel heads found (every entry is replaced or skipped: a cycle)")
	case len(heads) > 1:
		slices.Sort(heads)
		return nil, fail("multiple channel heads found: %v", heads)
	}
	g.head = heads[0]
	if err := g.acyclic(); err != nil {
		return nil, fail("%v", err)
	}
	return g, nil
}

// acyclic checks that replaces and skips edges inside the channel form no
// cycle (depth-first, every entry visited once: a channel whose entries
// carry 90 skips each costs edges, not paths, OCPBUGS-52471).
func (g *graph) acyclic() error {
	const (
		unseen = iota
		active
		done
	)
	state := make(map[string]int, len(g.entries))
	type frame struct {
		name string
		next []string
	}
	succ := func(e *Entry) []string {
		out := make([]string, 0, 1+len(e.Skips))
		if e.Replaces != "" && g.entries[e.Replaces] != nil {
			out = append(out, e.Replaces)
		}
		for _, s := range e.Skips {
			if g.entries[s] != nil {
				out = append(out, s)
			}
		}
		return out
	}
	for _, start := range g.ch.Entries {
		if state[start.Name] != unseen {
			continue
		}
		stack := []frame{{start.Name, succ(g.entries[start.Name])}}
		state[start.Name] = active
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if len(top.next) == 0 {
				state[top.name] = done
				stack = stack[:len(stack)-1]
				continue
			}
			n := top.next[0]
			top.next = top.next[1:]
			switch state[n] {
			case active:
				return fmt.Errorf("detected a cycle in the upgrade graph of the channel (through %q)", n)
			case unseen:
				state[n] = active
				stack = append(stack, frame{n, succ(g.entries[n])})
			}
		}
	}
	return nil
}

// chain returns the replaces chain from the head: head, the entry it
// replaces, and so on while the replaced entry is in the channel.
func (g *graph) chain() []*Entry {
	var out []*Entry
	seen := map[string]bool{}
	for e := g.entries[g.head]; e != nil && !seen[e.Name]; e = g.entries[e.Replaces] {
		seen[e.Name] = true
		out = append(out, e)
	}
	return out
}
