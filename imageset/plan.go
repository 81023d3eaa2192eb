package imageset

import (
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
)

// Section names a part of mirror: that a planner handles.
type Section string

// Sections that [Config.Plan] cannot plan yet.
const (
	SectionPlatform  Section = "mirror.platform"
	SectionOperators Section = "mirror.operators"
	SectionHelm      Section = "mirror.helm"
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
// digest only, so that registries that garbage-collect untagged manifests
// keep it: "digest-<algorithm>-<first 32 hex characters>", e.g.
// "digest-sha256-0123456789abcdef0123456789abcdef".
//
// The form cannot collide with the referrers tag schema ("sha256-<64 hex>",
// which oras-go falls back to on registries without the referrers API) nor
// with cosign's "sha256-<hex>.sig/.att/.sbom" tags, since those begin with
// the algorithm. 32 hex characters (128 bits) keep tags short and readable
// while making two digests sharing a tag practically impossible. d must be
// valid (see [ParseDigest]).
func DigestTag(d digest.Digest) string {
	enc := d.Encoded()
	if len(enc) > 32 {
		enc = enc[:32]
	}
	return "digest-" + string(d.Algorithm()) + "-" + enc
}

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
		p.Mappings = append(p.Mappings, Mapping{Kind: KindAdditionalImage, Source: img.Name, Destination: dst, Layout: img.Layout, Line: img.Line})
	}
	return p, nil
}

// Subset answers, for the references an archive holds, which ones a
// configuration selects: enclave-unpack -c uses it to push part of an archive.
type Subset struct {
	cfg *Config
}

// Subset returns a selector for c. Like [Config.Plan] it fails with
// [ErrNotImplemented] for sections it cannot select by yet, unless
// opts.Allow lists them (they then select nothing).
func (c *Config) Subset(opts PlanOptions) (*Subset, error) {
	if _, err := c.unplanned(opts.Allow); err != nil {
		return nil, err
	}
	return &Subset{cfg: c}, nil
}

// matches reports whether ref is what entry img names: same registry and
// repository, and the same digest when img has one, else the same tag.
func matches(img, ref Reference) bool {
	if img.Registry != ref.Registry || img.Repository != ref.Repository {
		return false
	}
	if img.Digest != "" {
		return img.Digest == ref.Digest
	}
	return img.Tag == ref.Tag
}

// Contains reports whether the source reference ref (as recorded in an
// archive, canonical, usually with tag and digest) is selected: some
// additionalImages entry names it and no blockedImages pattern matches it.
// An entry with a digest selects by digest (its tag is not compared); an
// entry with only a tag selects by tag.
func (s *Subset) Contains(ref Reference) bool {
	if _, blocked := s.cfg.blockedBy(ref); blocked {
		return false
	}
	for _, img := range s.cfg.Mirror.AdditionalImages {
		if matches(img.Name, ref) {
			return true
		}
	}
	return false
}

// Select splits an archive's roots: selected are the roots [Subset.Contains]
// accepts, in input order; missing are the configuration entries, not
// blocked, that matched no root (the archive lacks something the
// configuration asks for, which a caller will usually report as an error).
func (s *Subset) Select(roots []Reference) (selected []Reference, missing []AdditionalImage) {
	found := make([]bool, len(s.cfg.Mirror.AdditionalImages))
	for _, r := range roots {
		if _, blocked := s.cfg.blockedBy(r); blocked {
			continue
		}
		hit := false
		for i, img := range s.cfg.Mirror.AdditionalImages {
			if matches(img.Name, r) {
				found[i], hit = true, true
			}
		}
		if hit {
			selected = append(selected, r)
		}
	}
	for i, img := range s.cfg.Mirror.AdditionalImages {
		if _, blocked := s.cfg.blockedBy(img.Name); !found[i] && !blocked {
			missing = append(missing, img)
		}
	}
	return selected, missing
}
