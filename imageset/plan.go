package imageset

import (
	"errors"
	"fmt"
	"slices"

	"github.com/enclave-mirror/enclave/ref"
	"github.com/opencontainers/go-digest"
)

// Section names a part of mirror: that a planner handles.
type Section string

// Sections of mirror:. [Config.Plan] plans SectionAdditionalImages; the
// others are planned by their own packages (mirror/platform, ...), and a
// caller names those it has in [PlanOptions.Allow].
const (
	SectionAdditionalImages Section = "mirror.additionalImages"
	SectionPlatform         Section = "mirror.platform"
	SectionOperators        Section = "mirror.operators"
	SectionHelm             Section = "mirror.helm"
)

// PlanOptions are per-call parameters of [Config.Plan] and [Config.Subset].
// The zero value plans additionalImages and refuses every other section.
type PlanOptions struct {
	// Allow lists sections the caller plans by other means. Plan skips them
	// and records them in [Plan.Skipped] instead of failing with
	// [ErrNotImplemented]; Subset ignores them when selecting.
	Allow []Section
}

// MappingKind says which part of the configuration produced a mapping.
type MappingKind string

// Mapping kinds.
const (
	KindAdditionalImage MappingKind = "additionalImage"
	KindRelease         MappingKind = "release"
	KindOperator        MappingKind = "operator"
)

// Mapping is one image to copy.
type Mapping struct {
	Kind MappingKind
	// Source is the full source reference; it has a tag, a digest or both.
	Source Reference
	// Destination is relative (empty Registry): a repository path under the
	// destination root, with a tag and, when Source has one, its digest. Use
	// [Reference.Under] to place it under "host/prefix".
	Destination Reference
	// Layout, when set, is the OCI image layout directory to read Source's
	// tag or digest from (an oci:// entry); Source is then under
	// LayoutRegistry.
	Layout string
	// Platforms, when set, makes the copy sparse: of a multi-platform index
	// only these platforms' manifests (and their referrers) are copied; the
	// index itself is copied unchanged.
	Platforms []PlatformFilter
	// Line is the line of the configuration entry (0 if unknown).
	Line int
}

// Blocked is a source left out of a plan by mirror.blockedImages.
type Blocked struct {
	Kind   MappingKind
	Source Reference
	// Pattern is the regular expression that matched, as written.
	Pattern string
	// Line is the line of the blockedImages entry.
	Line int
}

// Plan is what to copy, in configuration order.
type Plan struct {
	Mappings []Mapping
	// Blocked lists sources excluded by blockedImages.
	Blocked []Blocked
	// Skipped lists sections present in the configuration that were allowed
	// by [PlanOptions.Allow] and therefore not planned here.
	Skipped []Section
}

// DigestTag returns the tag given at the destination to an image selected by
// digest only (see [ref.DigestTag]).
func DigestTag(d digest.Digest) string { return ref.DigestTag(d) }

// destination applies the destination rule: drop the source host, keep the
// repository path (or use targetRepo), keep the tag (or use targetTag, or
// DigestTag for digest-only sources), keep the digest.
func destination(src Reference, targetRepo, targetTag string) Reference {
	dst := Reference{Repository: src.Repository, Tag: src.Tag, Digest: src.Digest}
	if targetRepo != "" {
		dst.Repository = targetRepo
	}
	switch {
	case targetTag != "":
		dst.Tag = targetTag
	case dst.Tag == "":
		dst.Tag = DigestTag(src.Digest)
	}
	return dst
}

// unplanned returns an ErrNotImplemented error for each present section not
// in allow, and the present sections that are allowed.
func (c *Config) unplanned(allow []Section) (skipped []Section, err error) {
	type present struct {
		s    Section
		line int
		ok   bool
	}
	m := c.Mirror
	helmLine := 0
	if m.Helm != nil {
		helmLine = m.Helm.Line
	}
	var opLine int
	if len(m.Operators) > 0 {
		opLine = m.Operators[0].Line
	}
	var platLine int
	if m.Platform != nil {
		platLine = m.Platform.Line
	}
	var errs []error
	for _, p := range []present{
		{SectionPlatform, platLine, m.Platform != nil},
		{SectionOperators, opLine, len(m.Operators) > 0},
		{SectionHelm, helmLine, m.Helm != nil && len(m.Helm.Repositories)+len(m.Helm.Local) > 0},
	} {
		switch {
		case !p.ok:
		case slices.Contains(allow, p.s):
			skipped = append(skipped, p.s)
		default:
			errs = append(errs, &ConfigError{File: c.File, Line: p.line, Path: string(p.s), Err: ErrNotImplemented,
				Msg: fmt.Sprintf("%s is not implemented yet in this version; remove the section or use a newer enclave", p.s)})
		}
	}
	return skipped, errors.Join(errs...)
}

// CheckSections returns an [ErrNotImplemented] error naming each section
// present in the configuration that allow does not list
// (SectionAdditionalImages is always allowed), or nil.
func (c *Config) CheckSections(allow []Section) error {
	_, err := c.unplanned(allow)
	return err
}

// blockedBy returns the blockedImages entry matching src, if any.
func (c *Config) blockedBy(src Reference) (BlockedImage, bool) {
	s := src.String()
	for _, b := range c.Mirror.BlockedImages {
		if b.Pattern.MatchString(s) {
			return b, true
		}
	}
	return BlockedImage{}, false
}

// Plan turns the configuration into mappings. Today it plans
// mirror.additionalImages; a present platform, operators or helm section is
// an [ErrNotImplemented] error naming the section, unless opts.Allow lists
// it. Sources matching a blockedImages pattern are left out and listed in
// [Plan.Blocked]. Two sources that would land on the same destination tag
// are an [ErrConflict] error; an entry repeated exactly is planned once.
func (c *Config) Plan(opts PlanOptions) (*Plan, error) {
	skipped, err := c.unplanned(opts.Allow)
	if err != nil {
		return nil, err
	}
	p := &Plan{Skipped: skipped}
	type owner struct {
		src  Reference
		line int
	}
	dests := map[string]owner{}
	for _, img := range c.Mirror.AdditionalImages {
		if !img.Name.HasVersion() {
			return nil, fmt.Errorf("%w: %s:%d: %q has neither tag nor digest", ErrInvalidReference, c.File, img.Line, img.Name)
		}
		if b, ok := c.blockedBy(img.Name); ok {
			p.Blocked = append(p.Blocked, Blocked{Kind: KindAdditionalImage, Source: img.Name, Pattern: b.Pattern.String(), Line: b.Line})
			continue
		}
		dst := destination(img.Name, img.TargetRepo, img.TargetTag)
		key := dst.Repository + ":" + dst.Tag
		if o, ok := dests[key]; ok {
			if o.src == img.Name {
				continue
			}
			return nil, fmt.Errorf("%w: %s:%d: %s and %s (line %d) would both be written to %s",
				ErrConflict, c.File, img.Line, img.Name, o.src, o.line, key)
		}
		dests[key] = owner{img.Name, img.Line}
		p.Mappings = append(p.Mappings, Mapping{Kind: KindAdditionalImage, Source: img.Name, Destination: dst, Layout: img.Layout, Platforms: img.Platforms, Line: img.Line})
	}
	return p, nil
}

// Recorded is one reference an archive records for a root, with the
// root's digest: what [Config.Match] pairs configuration entries with.
type Recorded struct {
	// Ref is the reference as the archive records it (the source reference
	// of the entry that packed it: a tag, a digest or both).
	Ref Reference
	// Digest is the digest of the root Ref names.
	Digest digest.Digest
}

// Pick pairs one planned mapping with the one archive reference it names.
type Pick struct {
	// Mapping is the entry's mapping as [Config.Plan] makes it; its
	// Destination decides where the image goes. Its Source has the root's
	// digest filled in.
	Mapping Mapping
	// Index is the position in the slice given to Match of the reference
	// the entry names.
	Index int
}

// Match answers, for the references an archive holds, which ones a
// configuration selects and where each goes: enclave-unpack -c uses it to
// push part of an archive under the names the configuration gives.
//
// The rule is the one that decided the mapping at pack, one entry one
// reference: an entry with a digest names the references of the same
// repository whose root has that digest, and among them the one recorded
// with the entry's own tag (none, for a digest-only entry) if the archive
// holds it, else the first; an entry with only a tag names the reference
// with that tag. Several entries may name the same reference (one image
// under two targetRepos); each then has its own Pick. References that a
// blockedImages pattern matches are never picked.
//
// missing lists the planned mappings that name no reference: the archive
// lacks something the configuration asks for, which a caller will usually
// report as an error. Like [Config.Plan], Match fails with
// [ErrNotImplemented] for sections opts does not allow, and with
// [ErrConflict] when two entries would land on one destination tag.
func (c *Config) Match(opts PlanOptions, recorded []Recorded) (picks []Pick, missing []Mapping, err error) {
	plan, err := c.Plan(opts)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range plan.Mappings {
		i := c.pick(m.Source, recorded)
		if i < 0 {
			missing = append(missing, m)
			continue
		}
		m.Source.Digest = recorded[i].Digest
		picks = append(picks, Pick{Mapping: m, Index: i})
	}
	return picks, missing, nil
}

// pick returns the index of the reference entry names, or -1.
func (c *Config) pick(entry Reference, recorded []Recorded) int {
	first := -1
	for i, r := range recorded {
		if r.Ref.Registry != entry.Registry || r.Ref.Repository != entry.Repository {
			continue
		}
		if entry.Digest == "" {
			if r.Ref.Tag != entry.Tag {
				continue
			}
		} else if r.Digest != entry.Digest {
			continue
		}
		if c.blocked(r) {
			continue
		}
		if r.Ref.Tag == entry.Tag {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	return first
}

// blocked reports whether a blockedImages pattern matches the reference as
// recorded or with its root's digest.
func (c *Config) blocked(r Recorded) bool {
	if _, b := c.blockedBy(r.Ref); b {
		return true
	}
	withDigest := r.Ref
	withDigest.Digest = r.Digest
	_, b := c.blockedBy(withDigest)
	return b
}
