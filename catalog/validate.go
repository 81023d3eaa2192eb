package catalog

import (
	"fmt"
)

// validate checks a selection against the rules opm validate enforces
// (declcfg.ConvertToModel), so that a filter result oc-mirror would emit
// broken (OPERATORS.md G22, G27) fails here with a clear error instead of
// in the cluster.
func (s *Selection) validate() error {
	for _, p := range s.Packages {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%w: filtered package %q: %s", ErrInvalidGraph, p.Name, fmt.Sprintf(format, a...))
		}
		if p.Channel(p.DefaultChannel) == nil {
			return fail("default channel %q is not in the result", p.DefaultChannel)
		}
		inChannel := map[string]bool{}
		versions := map[string]string{}
		for _, c := range p.Channels {
			if len(c.Entries) == 0 {
				return fail("channel %q has no entries", c.Name)
			}
			g, err := newGraph(&Channel{Package: p.Name, Name: c.Name, Entries: c.Entries})
			if err != nil {
				return err
			}
			// Following replaces from the head reaches every entry no other
			// entry skips ("stranded bundles").
			reached := map[string]bool{}
			for _, e := range g.chain() {
				reached[e.Name] = true
			}
			skipped := map[string]bool{}
			for _, e := range c.Entries {
				for _, sk := range e.Skips {
					skipped[sk] = true
				}
			}
			for _, e := range c.Entries {
				if !reached[e.Name] && !skipped[e.Name] {
					return fail("channel %q: entry %q is stranded (not on the replaces chain from head %q and skipped by no entry)", c.Name, e.Name, g.head)
				}
				if p.pkg.Bundle(e.Name) == nil {
					return fail("channel %q: entry %q names no bundle", c.Name, e.Name)
				}
				inChannel[e.Name] = true
			}
		}
		for _, b := range p.Bundles {
			if !inChannel[b.Name] {
				return fail("bundle %q is in no channel", b.Name)
			}
			if other, dup := versions[b.Version]; dup {
				return fail("bundles %q and %q have the same version %s", other, b.Name, b.Version)
			}
			versions[b.Version] = b.Name
		}
		for _, d := range p.Deprecations {
			switch d.Schema {
			case SchemaChannel:
				if p.Channel(d.Name) == nil {
					return fail("deprecation names channel %q, which is not in the result", d.Name)
				}
			case SchemaBundle:
				if !inChannel[d.Name] {
					return fail("deprecation names bundle %q, which is not in the result", d.Name)
				}
			}
		}
	}
	return nil
}
