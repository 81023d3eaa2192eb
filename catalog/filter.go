package catalog

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/enclave-mirror/enclave/imageset"
)

// Selection is what [Filter] keeps of a catalog: per package, the default
// channel, the channels with their kept entries, and the bundles those
// entries name; plus the documents of unknown schema that go with them.
type Selection struct {
	// Catalog is the catalog filtered.
	Catalog *Catalog
	// Unfiltered is set for full: true without packages: oc-mirror then
	// mirrors the original catalog image unchanged (OCPBUGS-60999), and so
	// should the caller; every bundle is selected.
	Unfiltered bool
	// Packages are sorted by name.
	Packages []*SelectedPackage
	// Others are the kept documents of unknown schema, in image order.
	Others []*Blob
	// Warnings say what was kept or dropped silently, as oc-mirror would:
	// an image that is not a valid reference (left out of Images),
	// a non-default channel a range emptied, prerelease bundles a range
	// without prerelease left out, an exact version found twice.
	Warnings []string

	invalid map[string]bool
}

// SelectedPackage is one package of a [Selection].
type SelectedPackage struct {
	Name string
	// DefaultChannel is the package's default channel, or the override of
	// the configuration.
	DefaultChannel string
	// Channels are sorted by name.
	Channels []*SelectedChannel
	// Bundles are the bundles named by the kept entries, sorted by name.
	Bundles []*Bundle
	// Deprecations are the kept deprecation entries.
	Deprecations []Deprecation

	pkg *Package
}

// SelectedChannel is a channel of a [SelectedPackage] with its kept
// entries, unchanged (replaces and skips may name bundles that were not
// kept, which opm accepts).
type SelectedChannel struct {
	Name string
	// Head is the head of the kept entries.
	Head    string
	Entries []Entry

	ch *Channel
}

// Filter selects bundles of c as oc-mirror v2 does for one entry of
// mirror.operators (catalog-filter v0.0.5 with oc-mirror's mapping; the
// rules, and where enclave deliberately differs, are in doc.go):
//
//   - no packages: the heads of every channel of every package; with
//     full: true, everything, and the original image is to be mirrored
//     ([Selection.Unfiltered]);
//   - listed packages: those only, with all their channels or the listed
//     ones; full: true keeps whole channels, a version range (package or
//     channel minVersion/maxVersion, inclusive) keeps the part of the
//     upgrade graph that connects the versions in range, otherwise the
//     channel heads only;
//   - defaultChannel overrides the package's default channel, which must
//     survive the filter.
//
// A package, channel or exact version the catalog lacks is an
// [ErrNotInCatalog] error that lists what the catalog offers.
func Filter(c *Catalog, op imageset.Operator) (*Selection, error) {
	if err := validateFilter(op); err != nil {
		return nil, err
	}
	s := &Selection{Catalog: c}
	if len(op.Packages) == 0 && op.Full {
		s.Unfiltered = true
		for _, p := range c.Packages {
			sp := &SelectedPackage{Name: p.Name, DefaultChannel: p.DefaultChannel, pkg: p, Bundles: p.Bundles}
			for _, ch := range p.Channels {
				g, err := newGraph(ch)
				if err != nil {
					return nil, err
				}
				sp.Channels = append(sp.Channels, &SelectedChannel{Name: ch.Name, Head: g.head, Entries: ch.Entries, ch: ch})
			}
			if p.Deprecations != nil {
				sp.Deprecations = p.Deprecations.Entries
			}
			s.Packages = append(s.Packages, sp)
		}
		s.Others = c.Others
		// The original image is mirrored as published: its graph is not
		// checked, its images are.
		return s, s.checkImages()
	}
	var configs []imageset.OperatorPackage
	if len(op.Packages) == 0 {
		for _, p := range c.Packages {
			configs = append(configs, imageset.OperatorPackage{Name: p.Name})
		}
	} else {
		for _, pc := range op.Packages {
			if c.Package(pc.Name) == nil {
				return nil, fmt.Errorf("%w: package %q is not in catalog %s (it offers: %s)", ErrNotInCatalog, pc.Name, c.Image.Digest, list(c.PackageNames()))
			}
		}
		configs = slices.Clone(op.Packages)
		slices.SortFunc(configs, func(a, b imageset.OperatorPackage) int { return cmp.Compare(a.Name, b.Name) })
	}
	kept := map[string]bool{}
	for _, pc := range configs {
		sp, err := s.filterPackage(c.Package(pc.Name), pc, op.Full)
		if err != nil {
			return nil, err
		}
		s.Packages = append(s.Packages, sp)
		kept[sp.Name] = true
	}
	for _, b := range c.Others {
		if b.Package == "" || kept[b.Package] {
			s.Others = append(s.Others, b)
		}
	}
	if err := s.checkImages(); err != nil {
		return nil, err
	}
	return s, s.validate()
}

// checkImages looks at the images of the selected bundles: one on disk
// ("oci:") cannot be mirrored from a catalog and fails it, as in oc-mirror;
// one that does not parse as a reference is left out of [Selection.Images]
// with a warning (OCPBUGS-33081).
func (s *Selection) checkImages() error {
	for _, p := range s.Packages {
		for _, b := range p.Bundles {
			for _, img := range b.Images() {
				if strings.HasPrefix(img, "oci:") {
					return fmt.Errorf("%w: package %q bundle %q: image %q: an oci: image cannot be mirrored from a catalog", ErrInvalidFBC, p.Name, b.Name, img)
				}
				if _, err := imageset.ParseReference(img); err != nil {
					if s.invalid == nil {
						s.invalid = map[string]bool{}
					}
					if !s.invalid[img] {
						s.invalid[img] = true
						s.Warnings = append(s.Warnings, fmt.Sprintf("package %q bundle %q: image %q is not a valid reference and is not carried: %v", p.Name, b.Name, img, err))
					}
				}
			}
		}
	}
	return nil
}

// validateFilter repeats the checks oc-mirror makes at configuration load
// and catalog-filter makes before filtering.
func validateFilter(op imageset.Operator) error {
	for _, pc := range op.Packages {
		pkgRange := pc.MinVersion != nil || pc.MaxVersion != nil
		for _, ch := range pc.Channels {
			chRange := ch.MinVersion != nil || ch.MaxVersion != nil
			if pkgRange && chRange {
				return fmt.Errorf("%w: package %q: mixing both filtering by minVersion/maxVersion and filtering by channel minVersion/maxVersion is not allowed", ErrInvalidFilter, pc.Name)
			}
			if op.Full && chRange {
				return fmt.Errorf("%w: package %q channel %q: full: true cannot be mixed with a version range (Full: true cannot be mixed with versionRange)", ErrInvalidFilter, pc.Name, ch.Name)
			}
		}
		if op.Full && pkgRange {
			return fmt.Errorf("%w: package %q: full: true cannot be mixed with a version range (Full: true cannot be mixed with versionRange)", ErrInvalidFilter, pc.Name)
		}
	}
	return nil
}

// versionRange is a minVersion/maxVersion pair as oc-mirror turns it into
// a Masterminds constraint: ">=min", " <=max", both inclusive.
type versionRange struct {
	min, max *imageset.Version
	// channel is set when the range was given on the channel, not on the
	// package.
	channel bool
}

func (r versionRange) set() bool { return r.min != nil || r.max != nil }

func (r versionRange) String() string {
	s := ""
	if r.min != nil {
		s = ">=" + r.min.String()
	}
	if r.max != nil {
		s += " <=" + r.max.String()
	}
	return s
}

// exact reports the min == max case, which catalog-filter v0.0.5 treats as
// "this version" (OCPBUGS-61497).
func (r versionRange) exact() bool {
	return r.min != nil && r.max != nil && r.min.String() == r.max.String()
}

func (s *Selection) filterPackage(p *Package, pc imageset.OperatorPackage, full bool) (*SelectedPackage, error) {
	sp := &SelectedPackage{Name: p.Name, DefaultChannel: p.DefaultChannel, pkg: p}
	// 1. channels of the package that the configuration keeps.
	type todo struct {
		ch *Channel
		r  versionRange
	}
	var channels []todo
	pkgRange := versionRange{min: pc.MinVersion, max: pc.MaxVersion}
	if len(pc.Channels) == 0 {
		for _, ch := range p.Channels {
			channels = append(channels, todo{ch, pkgRange})
		}
	} else {
		for _, cc := range pc.Channels {
			ch := p.Channel(cc.Name)
			if ch == nil {
				return nil, fmt.Errorf("%w: package %q has no channel %q (it offers: %s)", ErrNotInCatalog, p.Name, cc.Name, list(p.ChannelNames()))
			}
			r := versionRange{min: cc.MinVersion, max: cc.MaxVersion, channel: true}
			if !r.set() {
				r = pkgRange
			}
			channels = append(channels, todo{ch, r})
		}
		slices.SortFunc(channels, func(a, b todo) int { return cmp.Compare(a.ch.Name, b.ch.Name) })
	}
	// 2. the default channel must survive.
	survives := func(name string) bool {
		return slices.ContainsFunc(channels, func(t todo) bool { return t.ch.Name == name })
	}
	if pc.DefaultChannel != "" {
		if p.Channel(pc.DefaultChannel) == nil {
			return nil, fmt.Errorf("%w: invalid default channel configuration for package %q: channel %q does not exist (the package offers: %s)", ErrNotInCatalog, p.Name, pc.DefaultChannel, list(p.ChannelNames()))
		}
		if !survives(pc.DefaultChannel) {
			return nil, fmt.Errorf("%w: invalid default channel configuration for package %q: specified default channel override %q does not exist in the filtered output (add it to channels)", ErrNotInCatalog, p.Name, pc.DefaultChannel)
		}
		sp.DefaultChannel = pc.DefaultChannel
	} else if !survives(p.DefaultChannel) {
		return nil, fmt.Errorf("%w: invalid default channel configuration for package %q: the default channel %q was filtered out, a new default channel must be configured for this package (set defaultChannel, or add channel %q)", ErrNotInCatalog, p.Name, p.DefaultChannel, p.DefaultChannel)
	}
	// 3. entries of each channel.
	bundles := map[string]bool{}
	for _, t := range channels {
		var entries []Entry
		switch {
		case full:
			entries = t.ch.Entries
			if _, err := newGraph(t.ch); err != nil {
				return nil, err
			}
		case t.r.set():
			var err error
			entries, err = s.byRange(p, t.ch, t.r)
			if err != nil {
				return nil, err
			}
		default:
			g, err := newGraph(t.ch)
			if err != nil {
				return nil, err
			}
			entries = []Entry{*g.entries[g.head]}
		}
		if len(entries) == 0 {
			isDefault := t.ch.Name == p.DefaultChannel || t.ch.Name == sp.DefaultChannel
			switch {
			case t.r.exact() && (t.r.channel || isDefault):
				return nil, fmt.Errorf("%w: package %q channel %q has no bundle of version %s (channel versions: %s)", ErrNotInCatalog, p.Name, t.ch.Name, t.r.min, list(channelVersions(p, t.ch)))
			case isDefault:
				return nil, fmt.Errorf("%w: package %q channel %q has version range %q that results in an empty channel", ErrEmptyChannel, p.Name, t.ch.Name, t.r.String())
			}
			s.Warnings = append(s.Warnings, fmt.Sprintf("package %q channel %q: version range %q leaves no entry; the channel is dropped", p.Name, t.ch.Name, t.r.String()))
			continue
		}
		sc := &SelectedChannel{Name: t.ch.Name, Entries: entries, ch: t.ch}
		kc := &Channel{Package: p.Name, Name: t.ch.Name, Entries: entries}
		g, err := newGraph(kc)
		if err != nil {
			return nil, fmt.Errorf("filtered result: %w", err)
		}
		sc.Head = g.head
		sp.Channels = append(sp.Channels, sc)
		for _, e := range entries {
			bundles[e.Name] = true
		}
	}
	for name := range bundles {
		b := p.Bundle(name)
		if b == nil {
			return nil, fmt.Errorf("%w: package %q: channel entry %q names no olm.bundle of the package", ErrInvalidFBC, p.Name, name)
		}
		sp.Bundles = append(sp.Bundles, b)
	}
	slices.SortFunc(sp.Bundles, func(a, b *Bundle) int { return cmp.Compare(a.Name, b.Name) })
	// 4. deprecations of what is kept.
	if p.Deprecations != nil {
		for _, d := range p.Deprecations.Entries {
			switch d.Schema {
			case SchemaPackage:
				sp.Deprecations = append(sp.Deprecations, d)
			case SchemaChannel:
				if slices.ContainsFunc(sp.Channels, func(c *SelectedChannel) bool { return c.Name == d.Name }) {
					sp.Deprecations = append(sp.Deprecations, d)
				}
			case SchemaBundle:
				if bundles[d.Name] {
					sp.Deprecations = append(sp.Deprecations, d)
				}
			}
		}
	}
	return sp, nil
}

func channelVersions(p *Package, ch *Channel) []string {
	var out []string
	for _, e := range ch.Entries {
		if b := p.Bundle(e.Name); b != nil {
			out = append(out, b.Version)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// byRange keeps the entries of ch that a version range selects
// (catalog-filter's filterByVersionRange).
func (s *Selection) byRange(p *Package, ch *Channel, r versionRange) ([]Entry, error) {
	version := func(name string) *semver.Version {
		if b := p.Bundle(name); b != nil {
			return b.version
		}
		return nil
	}
	if r.exact() {
		want, err := semver.NewVersion(r.min.String())
		if err != nil {
			return nil, fmt.Errorf("%w: package %q: version %s: %v", ErrInvalidFilter, p.Name, r.min, err)
		}
		if !slices.ContainsFunc(p.Bundles, func(b *Bundle) bool { return b.version.Equal(want) }) {
			return nil, fmt.Errorf("%w: package %q: error finding specific bundle: specific version %s not found in bundles (channel %q offers: %s)", ErrNotInCatalog, p.Name, r.min, ch.Name, list(channelVersions(p, ch)))
		}
		var found []Entry
		for _, e := range ch.Entries {
			if v := version(e.Name); v != nil && v.Equal(want) {
				found = append(found, e)
			}
		}
		if len(found) == 0 {
			return nil, nil
		}
		slices.SortFunc(found, func(a, b Entry) int { return cmp.Compare(a.Name, b.Name) })
		if len(found) > 1 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("package %q channel %q: %d bundles have version %s (build metadata differs); keeping %q, the first by name", p.Name, ch.Name, len(found), r.min, found[0].Name))
		}
		return found[:1], nil
	}
	con, err := semver.NewConstraint(r.String())
	if err != nil {
		return nil, fmt.Errorf("%w: package %q channel %q: range %q: %v", ErrInvalidFilter, p.Name, ch.Name, r.String(), err)
	}
	withPre := *con
	withPre.IncludePrerelease = true
	match := func(name string) bool {
		v := version(name)
		return v != nil && con.Check(v)
	}
	g, err := newGraph(ch)
	if err != nil {
		return nil, err
	}
	chain := g.chain()
	// counts[i]: range members among chain[i], its skips and everything
	// below it, each counted once.
	counts := make([]int, len(chain))
	members := map[string]bool{}
	for i := len(chain) - 1; i >= 0; i-- {
		e := chain[i]
		for _, n := range append([]string{e.Name}, e.Skips...) {
			if g.entries[n] != nil && match(n) {
				members[n] = true
			}
		}
		counts[i] = len(members)
	}
	// The new head is the lowest chain node that still has every member
	// below it; counts never grow going down the chain.
	top := 0
	for i, n := range counts {
		if n == counts[0] {
			top = i
		}
	}
	if len(counts) == 0 || counts[top] == 0 {
		s.warnPrerelease(p, ch, r, &withPre, con)
		return nil, nil
	}
	keep := map[string]bool{}
	for i := top; i < len(chain) && counts[i] > 0; i++ {
		e := chain[i]
		keep[e.Name] = true
		if !match(e.Name) {
			s.Warnings = append(s.Warnings, fmt.Sprintf("package %q channel %q: entry %q (version %s) is outside range %q but kept to connect the entries in range", p.Name, ch.Name, e.Name, p.Bundle(e.Name).Version, r.String()))
		}
		for _, sk := range e.Skips {
			if g.entries[sk] != nil && match(sk) {
				keep[sk] = true
			}
		}
	}
	s.warnPrerelease(p, ch, r, &withPre, con)
	var out []Entry
	for _, e := range ch.Entries {
		if keep[e.Name] {
			out = append(out, e)
		}
	}
	return out, nil
}

// warnPrerelease notes the prerelease bundles of ch that a range without a
// prerelease part leaves out (Masterminds semantics, followed by oc-mirror).
func (s *Selection) warnPrerelease(p *Package, ch *Channel, r versionRange, withPre, con *semver.Constraints) {
	var left []string
	for _, e := range ch.Entries {
		b := p.Bundle(e.Name)
		if b != nil && b.version.Prerelease() != "" && !con.Check(b.version) && withPre.Check(b.version) {
			left = append(left, b.Name)
		}
	}
	if len(left) > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("package %q channel %q: range %q has no prerelease part, so it leaves out prerelease bundles %s (give a prerelease bound such as %s-0 to include them)", p.Name, ch.Name, r.String(), list(left), rangeLow(r)))
	}
}

func rangeLow(r versionRange) string {
	if r.min != nil {
		return r.min.String()
	}
	return "0.0.0"
}

// Images returns every image of the selected bundles (bundle images and
// related images, as written in the catalog), sorted and without repeats;
// references that do not parse are left out (see Warnings).
func (s *Selection) Images() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range s.Packages {
		for _, b := range p.Bundles {
			for _, img := range b.Images() {
				if !seen[img] && !s.invalid[img] {
					seen[img] = true
					out = append(out, img)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Package returns the selected package of that name, or nil.
func (s *Selection) Package(name string) *SelectedPackage {
	for _, p := range s.Packages {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Channel returns the selected channel of that name, or nil.
func (p *SelectedPackage) Channel(name string) *SelectedChannel {
	for _, c := range p.Channels {
		if c.Name == name {
			return c
		}
	}
	return nil
}
