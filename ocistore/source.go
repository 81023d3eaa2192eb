package ocistore

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

// ServeEvent says which endpoint answered a Source request.
type ServeEvent struct {
	// Op is "resolve" or "fetch".
	Op string
	// Descriptor is what was resolved or fetched.
	Descriptor ocispec.Descriptor
	// From is the endpoint that served it.
	From PullSource
}

// SourceTarget is a read-only oras target for one image name that follows
// registries.conf: requests go to each PullSource in order (mirrors first,
// then the origin) until one answers, so images keep their original names
// while the bytes may come from a mirror.
//
// A request falls through to the next endpoint when the current one fails
// with a not-found, network, TLS, auth or other registry error; it does not
// on invalid input, cancellation or content that fails verification.
// Resolve honours mirror-by-digest-only and pull-from-mirror for the kind of
// reference asked for; Fetch, Exists, Predecessors and Referrers address
// content by digest, so every mirror of the matched prefix is eligible, and
// the endpoint that resolved the image is tried first.
type SourceTarget struct {
	client *Client
	ref    Reference

	mu     sync.Mutex
	served servedSet
	own    PullSource // the endpoint that resolved the source's own reference
	hasOwn bool       // (a value, not a pointer: one allocation less per image)
}

// servedSet remembers which endpoint first served each digest. A run
// holds one Source per image from the plan to the image's copy, so the
// common case (an image's few manifests, configs and layers) is a short
// slice searched in order; above servedSmall entries a map indexes it.
type servedSet struct {
	list  []servedEntry
	index map[digest.Digest]int // into list, once it is longer than servedSmall
}

type servedEntry struct {
	d    digest.Digest
	from PullSource
}

// servedSmall is the length up to which servedSet searches its slice.
const servedSmall = 16

func (s *servedSet) get(d digest.Digest) (PullSource, bool) {
	if s.index != nil {
		i, ok := s.index[d]
		if !ok {
			return PullSource{}, false
		}
		return s.list[i].from, true
	}
	for _, e := range s.list {
		if e.d == d {
			return e.from, true
		}
	}
	return PullSource{}, false
}

// add records from for d unless d has an endpoint already.
func (s *servedSet) add(d digest.Digest, from PullSource) {
	if _, ok := s.get(d); ok {
		return
	}
	s.list = append(s.list, servedEntry{d: d, from: from})
	switch {
	case s.index != nil:
		s.index[d] = len(s.list) - 1
	case len(s.list) > servedSmall:
		s.index = make(map[digest.Digest]int, len(s.list))
		for i, e := range s.list {
			s.index[e.d] = i
		}
	}
}

var (
	_ oras.ReadOnlyGraphTarget = (*SourceTarget)(nil)
	_ registry.ReferrerLister  = (*SourceTarget)(nil)
)

// Source returns a read target for ref. A reference blocked by
// registries.conf fails here with ErrBlocked.
func (c *Client) Source(ctx context.Context, ref Reference) (*SourceTarget, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	if _, err := c.conf.PullSources(ref); err != nil {
		return nil, err
	}
	return &SourceTarget{client: c, ref: ref}, nil
}

// Source is NewClient(opts) followed by Client.Source.
func Source(ctx context.Context, ref Reference, opts Options) (*SourceTarget, error) {
	c, err := NewClient(opts)
	if err != nil {
		return nil, err
	}
	return c.Source(ctx, ref)
}

// Reference returns the (original) reference the source was opened for.
func (s *SourceTarget) Reference() Reference { return s.ref }

// ServedBy returns the endpoint that resolved or fetched d, if any.
func (s *SourceTarget) ServedBy(d digest.Digest) (PullSource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served.get(d)
}

func (s *SourceTarget) record(op string, desc ocispec.Descriptor, from PullSource) {
	s.mu.Lock()
	s.served.add(desc.Digest, from)
	s.mu.Unlock()
	s.client.logger.Debug("served", "op", op, "ref", s.ref.String(), "digest", desc.Digest.String(), "from", from.String())
	if s.client.opts.OnServe != nil {
		s.client.opts.OnServe(ServeEvent{Op: op, Descriptor: desc, From: from})
	}
}

func (s *SourceTarget) repo(ctx context.Context, ps PullSource) (*remote.Repository, error) {
	return s.client.sourceRepository(ctx, ps.Reference, ps.Insecure || s.client.opts.SkipTLSVerify)
}

// fallsThrough reports whether another endpoint should be tried after err.
func fallsThrough(err error) bool {
	switch Classify(err) {
	case KindNotFound, KindNetwork, KindTLS, KindAuth, KindRegistry:
		return true
	}
	return false
}

// contentSources lists every endpoint for content addressed by d, the one
// that served d (or the image) first.
func (s *SourceTarget) contentSources(d digest.Digest) ([]PullSource, error) {
	ref := s.ref
	ref.Tag, ref.Digest = "", d
	all, err := s.client.conf.pullSources(ref, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	first, ok := s.served.get(d)
	if !ok && s.ref.Digest != "" {
		first, ok = s.served.get(s.ref.Digest)
	}
	s.mu.Unlock()
	if !ok {
		return all, nil
	}
	out := []PullSource{first}
	for _, p := range all {
		if p != first {
			out = append(out, p)
		}
	}
	return out, nil
}

// each calls fn for every endpoint in order until fn succeeds or fails in a
// way that must not fall through.
func (s *SourceTarget) each(ctx context.Context, what string, sources []PullSource, fn func(*remote.Repository, PullSource) error) error {
	var errs []error
	var tried []string
	for _, ps := range sources {
		r, err := s.repo(ctx, ps)
		if err == nil {
			err = fn(r, ps)
			if err == nil {
				return nil
			}
		}
		err = RedactURLs(err) // before it is logged or wrapped
		if ctx.Err() != nil {
			return fmt.Errorf("ocistore: %s: %w", what, ctx.Err())
		}
		errs, tried = append(errs, err), append(tried, ps.String())
		if !fallsThrough(err) {
			break
		}
		s.client.logger.Debug("falling through to next endpoint", "op", what, "endpoint", ps.String(), "error", err)
	}
	return lastErrorWithOthers(what, tried, errs)
}

// Resolve resolves reference (a tag or digest; empty means the source's
// own) through the pull sources that apply to it.
func (s *SourceTarget) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	ref := s.ref
	switch {
	case reference == "" || reference == s.ref.Object():
	case strings.Contains(reference, ":"):
		d, err := ParseDigest(reference)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		ref.Tag, ref.Digest = "", d
	default:
		ref.Tag, ref.Digest = reference, ""
		if err := ref.Validate(); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	sources, err := s.client.conf.PullSources(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var desc ocispec.Descriptor
	err = s.each(ctx, "resolve "+ref.String(), sources, func(r *remote.Repository, ps PullSource) error {
		d, err := r.Resolve(ctx, ps.Reference.Object())
		if err != nil {
			return err
		}
		if ref.Digest != "" && d.Digest != ref.Digest {
			return fmt.Errorf("ocistore: %s resolved %s to %s: digest mismatch", ps, ref.Digest, d.Digest)
		}
		desc = d
		s.record("resolve", d, ps)
		if ref == s.ref {
			s.mu.Lock()
			s.own, s.hasOwn = ps, true
			s.mu.Unlock()
		}
		return nil
	})
	return desc, err
}

// ResolveTagOf resolves tag, a tag named after subject (a cosign signature,
// attestation or SBOM: "sha256-<hex>.sig"), in the source's repository. Such
// a tag belongs to the content subject names, not to a version of the
// repository, so it is looked up where content by digest is: first at the
// endpoint that served subject, then at the other mirrors of the matched
// prefix (mirror-by-digest-only and pull-from-mirror do not exclude them,
// as for Fetch) and the origin, under the source's original name.
//
// Where subject was never read through this source, the endpoint that
// resolved the source's own reference comes first. The first endpoint that
// answers decides: what it has, or a "not found"
// (the error wraps errdef.ErrNotFound). Only failures to answer (network,
// TLS, auth, registry errors) move on to the next endpoint: inside an
// enclave the origin cannot be reached, and asking it about every absent
// signature would cost its retries each time. As containers/image does,
// the endpoint that holds the image is taken to hold its signatures.
func (s *SourceTarget) ResolveTagOf(ctx context.Context, subject digest.Digest, tag string) (ocispec.Descriptor, error) {
	ref := s.ref
	ref.Tag, ref.Digest = tag, ""
	if err := ref.Validate(); err != nil {
		return ocispec.Descriptor{}, err
	}
	sources, err := s.contentSources(subject)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// A manifest of the image that was never fetched (a copy that found
	// it at the destination): the endpoint that resolved the image holds it.
	s.mu.Lock()
	_, served := s.served.get(subject)
	own, hasOwn := s.own, s.hasOwn
	s.mu.Unlock()
	if !served && hasOwn {
		sources = append([]PullSource{own}, slices.DeleteFunc(sources, func(p PullSource) bool { return p == own })...)
	}
	var errs []error
	var tried []string
	for _, ps := range sources {
		r, err := s.repo(ctx, ps)
		if err == nil {
			var d ocispec.Descriptor
			if d, err = r.Resolve(ctx, tag); err == nil {
				s.record("resolve", d, ps)
				return d, nil
			}
			if Classify(err) == KindNotFound {
				return ocispec.Descriptor{}, fmt.Errorf("ocistore: resolve %s via %s: %w", ref, ps, err)
			}
		}
		if ctx.Err() != nil {
			return ocispec.Descriptor{}, fmt.Errorf("ocistore: resolve %s: %w", ref, ctx.Err())
		}
		errs, tried = append(errs, err), append(tried, ps.String())
		if !fallsThrough(err) {
			break
		}
	}
	return ocispec.Descriptor{}, lastErrorWithOthers("resolve "+ref.String(), tried, errs)
}

// Fetch fetches content by descriptor from the first endpoint that has it.
// The caller verifies what it reads (oras.Copy does).
func (s *SourceTarget) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	sources, err := s.contentSources(target.Digest)
	if err != nil {
		return nil, err
	}
	var rc io.ReadCloser
	err = s.each(ctx, "fetch "+target.Digest.String(), sources, func(r *remote.Repository, ps PullSource) error {
		var err error
		if rc, err = r.Fetch(ctx, target); err == nil {
			s.record("fetch", target, ps)
		}
		return err
	})
	return rc, err
}

// Exists reports whether any endpoint has the content.
func (s *SourceTarget) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	sources, err := s.contentSources(target.Digest)
	if err != nil {
		return false, err
	}
	found := false
	err = s.each(ctx, "exists "+target.Digest.String(), sources, func(r *remote.Repository, ps PullSource) error {
		ok, err := r.Exists(ctx, target)
		if err != nil {
			return err
		}
		if !ok {
			return errNotHere
		}
		found = true
		return nil
	})
	if err != nil && Classify(err) == KindNotFound {
		return false, nil
	}
	return found, err
}

// errNotHere makes each() move on when an endpoint says "does not exist".
var errNotHere = fmt.Errorf("ocistore: content not at this endpoint: %w", errdef.ErrNotFound)

// Predecessors returns the manifests that refer to node, from the first
// endpoint that answers, within the client's Limits (ErrLimit beyond).
func (s *SourceTarget) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	sources, err := s.contentSources(node.Digest)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	err = s.each(ctx, "predecessors "+node.Digest.String(), sources, func(r *remote.Repository, ps PullSource) error {
		out = nil
		return r.Referrers(ctx, node, "", boundReferrers(s.client.limits, ps.Reference.Registry, node, func(page []ocispec.Descriptor) error {
			out = append(out, page...)
			return nil
		}))
	})
	return out, err
}

// Referrers lists the referrers of desc (by the referrers API or the tag
// schema), from the first endpoint that answers, within the client's
// Limits: a listing that goes on beyond them (an endless Link: rel="next"
// chain) ends with ErrLimit.
func (s *SourceTarget) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func(referrers []ocispec.Descriptor) error) error {
	sources, err := s.contentSources(desc.Digest)
	if err != nil {
		return err
	}
	return s.each(ctx, "referrers "+desc.Digest.String(), sources, func(r *remote.Repository, ps PullSource) error {
		return r.Referrers(ctx, desc, artifactType, boundReferrers(s.client.limits, ps.Reference.Registry, desc, fn))
	})
}
