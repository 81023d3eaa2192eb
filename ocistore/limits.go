package ocistore

import (
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Default limits on lists read from a registry: see Limits.
const (
	// DefaultMaxReferrerPages bounds the pages (Link: rel="next") of one
	// referrers listing.
	DefaultMaxReferrerPages = 64
	// DefaultMaxReferrers bounds the descriptors of one referrers listing.
	DefaultMaxReferrers = 10000
	// DefaultMaxReferrerBytes bounds the bytes those descriptors hold.
	DefaultMaxReferrerBytes = 16 << 20
	// DefaultMaxMetadataBytes bounds one page of a list (oras-go's
	// MaxMetadataBytes).
	DefaultMaxMetadataBytes = 4 << 20
)

// ErrLimit is matched (errors.Is) by the error of a list that a registry
// made longer than the limits allow.
var ErrLimit = errors.New("ocistore: over a limit")

// Limits bound what a list read from a registry may hold before it is
// held in memory: a registry can answer with pages for ever. Zero fields
// take the defaults.
type Limits struct {
	// ReferrerPages bounds the pages of one referrers listing.
	ReferrerPages int
	// Referrers bounds the descriptors of one referrers listing.
	Referrers int
	// ReferrerBytes bounds the bytes of those descriptors (their JSON
	// size, as the registry sent them, approximately).
	ReferrerBytes int64
	// PageBytes bounds one page of a list as the registry sends it.
	PageBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.ReferrerPages <= 0 {
		l.ReferrerPages = DefaultMaxReferrerPages
	}
	if l.Referrers <= 0 {
		l.Referrers = DefaultMaxReferrers
	}
	if l.ReferrerBytes <= 0 {
		l.ReferrerBytes = DefaultMaxReferrerBytes
	}
	if l.PageBytes <= 0 {
		l.PageBytes = DefaultMaxMetadataBytes
	}
	return l
}

// boundReferrers passes the pages of a referrers listing of subject at
// host on to fn until the listing goes over l, and then fails with
// ErrLimit naming host, subject and the bound.
func boundReferrers(l Limits, host string, subject ocispec.Descriptor, fn func([]ocispec.Descriptor) error) func([]ocispec.Descriptor) error {
	var pages, n int
	var size int64
	over := func(what string, limit any) error {
		return fmt.Errorf("%w: %s lists more than %v %s of referrers of %s: the registry is broken or hostile (use --no-referrers to leave referrers behind)",
			ErrLimit, host, limit, what, subject.Digest)
	}
	return func(page []ocispec.Descriptor) error {
		pages++
		if pages > l.ReferrerPages {
			return over("pages", l.ReferrerPages)
		}
		n += len(page)
		if n > l.Referrers {
			return over("entries", l.Referrers)
		}
		for _, d := range page {
			size += descriptorBytes(d)
		}
		if size > l.ReferrerBytes {
			return over("bytes", l.ReferrerBytes)
		}
		return fn(page)
	}
}

// descriptorBytes approximates the JSON size of d.
func descriptorBytes(d ocispec.Descriptor) int64 {
	n := 64 + len(d.MediaType) + len(d.ArtifactType) + len(d.Digest)
	for k, v := range d.Annotations {
		n += len(k) + len(v) + 6
	}
	for _, u := range d.URLs {
		n += len(u) + 3
	}
	n += len(d.Data)
	if d.Platform != nil {
		n += 64 + len(d.Platform.OS) + len(d.Platform.Architecture) + len(d.Platform.Variant) + len(d.Platform.OSVersion)
		for _, f := range d.Platform.OSFeatures {
			n += len(f) + 3
		}
	}
	return int64(n)
}
