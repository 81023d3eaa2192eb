package catalog

import (
	"cmp"
	"fmt"
	"slices"
)

// Without returns a copy of the selection without the bundles drop names
// (for example those whose images could not be mirrored), so that the
// rebuilt catalog never offers a bundle it cannot install.
//
// In each channel the dropped entries go, and with them whatever no longer
// hangs together: the channel keeps its highest remaining head, the
// replaces chain from it and the entries that kept entries skip (opm's
// rules for a valid channel). An emptied channel is dropped; a package
// whose default channel is emptied is dropped whole. Both are said in the
// warnings. The selection s itself is not changed.
func (s *Selection) Without(drop func(*Bundle) bool) (*Selection, error) {
	out := &Selection{Catalog: s.Catalog, Others: s.Others, Warnings: slices.Clone(s.Warnings), invalid: s.invalid}
	kept := map[string]bool{}
	for _, p := range s.Packages {
		np, err := without(p, drop, &out.Warnings)
		if err != nil {
			return nil, err
		}
		if np != nil {
			out.Packages = append(out.Packages, np)
			kept[np.Name] = true
		}
	}
	out.Others = slices.DeleteFunc(slices.Clone(s.Others), func(b *Blob) bool { return b.Package != "" && !kept[b.Package] })
	return out, out.validate()
}

func without(p *SelectedPackage, drop func(*Bundle) bool, warnings *[]string) (*SelectedPackage, error) {
	dropped := map[string]bool{}
	for _, b := range p.Bundles {
		if drop(b) {
			dropped[b.Name] = true
		}
	}
	if len(dropped) == 0 {
		return p, nil
	}
	np := &SelectedPackage{Name: p.Name, DefaultChannel: p.DefaultChannel, pkg: p.pkg}
	inChannel := map[string]bool{}
	for _, c := range p.Channels {
		entries := slices.DeleteFunc(slices.Clone(c.Entries), func(e Entry) bool { return dropped[e.Name] })
		entries = connected(p.pkg, entries)
		if len(entries) == 0 {
			*warnings = append(*warnings, fmt.Sprintf("package %q channel %q: no entry left once the bundles that failed were removed; the channel is dropped", p.Name, c.Name))
			if c.Name == p.DefaultChannel {
				*warnings = append(*warnings, fmt.Sprintf("package %q: its default channel %q is empty; the package is dropped", p.Name, c.Name))
				return nil, nil
			}
			continue
		}
		g, err := newGraph(&Channel{Package: p.Name, Name: c.Name, Entries: entries})
		if err != nil {
			return nil, err
		}
		if len(entries) != len(c.Entries) {
			*warnings = append(*warnings, fmt.Sprintf("package %q channel %q: %d of %d entries kept once the bundles that failed were removed (head %s)", p.Name, c.Name, len(entries), len(c.Entries), g.head))
		}
		np.Channels = append(np.Channels, &SelectedChannel{Name: c.Name, Head: g.head, Entries: entries, ch: c.ch})
		for _, e := range entries {
			inChannel[e.Name] = true
		}
	}
	for _, b := range p.Bundles {
		if inChannel[b.Name] {
			np.Bundles = append(np.Bundles, b)
		}
	}
	for _, d := range p.Deprecations {
		switch {
		case d.Schema == SchemaChannel && np.Channel(d.Name) == nil:
		case d.Schema == SchemaBundle && !inChannel[d.Name]:
		default:
			np.Deprecations = append(np.Deprecations, d)
		}
	}
	return np, nil
}

// connected returns the entries that form a valid channel around the
// highest remaining head: its replaces chain and, repeatedly, what kept
// entries skip. Order is kept.
func connected(p *Package, entries []Entry) []Entry {
	if len(entries) == 0 {
		return nil
	}
	byName := map[string]*Entry{}
	incoming := map[string]bool{}
	for i := range entries {
		byName[entries[i].Name] = &entries[i]
	}
	for _, e := range entries {
		if byName[e.Replaces] != nil {
			incoming[e.Replaces] = true
		}
		for _, s := range e.Skips {
			incoming[s] = true
		}
	}
	var heads []*Entry
	for i := range entries {
		if !incoming[entries[i].Name] {
			heads = append(heads, &entries[i])
		}
	}
	if len(heads) == 0 {
		return nil
	}
	version := func(e *Entry) *Bundle { return p.Bundle(e.Name) }
	head := slices.MaxFunc(heads, func(a, b *Entry) int {
		va, vb := version(a), version(b)
		if va != nil && vb != nil {
			if n := va.version.Compare(vb.version); n != 0 {
				return n
			}
		}
		return cmp.Compare(a.Name, b.Name)
	})
	keep := map[string]bool{}
	for e := head; e != nil && !keep[e.Name]; e = byName[e.Replaces] {
		keep[e.Name] = true
	}
	for changed := true; changed; {
		changed = false
		for name := range keep {
			for _, s := range byName[name].Skips {
				if byName[s] != nil && !keep[s] {
					keep[s], changed = true, true
				}
			}
		}
	}
	return slices.DeleteFunc(entries, func(e Entry) bool { return !keep[e.Name] })
}
