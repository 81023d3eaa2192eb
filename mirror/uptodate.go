package mirror

import (
	"context"

	"github.com/enclave-mirror/enclave/mirror/section"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// upToDate reports whether the destination already holds every image of
// pushes under its tag, with the referrers the archive has for it (unless
// NoReferrers): an unpack that will write nothing, for which reading every
// byte of the archive first would only cost time. Any error answers false.
func (u *unpacker) upToDate(ctx context.Context, pushes []section.Push) bool {
	if len(pushes) == 0 {
		return false
	}
	for _, p := range pushes {
		dst, err := u.repo(ctx, p.Dest.Repository)
		if err != nil {
			return false
		}
		cur, err := dst.Resolve(ctx, p.Tag)
		if err != nil || cur.Digest != p.Root.Descriptor.Digest {
			return false
		}
		if !u.opts.NoReferrers && !u.referrersAt(ctx, dst, p.Root.Descriptor) {
			return false
		}
		if absent, err := u.absentChildren(ctx, dst, p.Root.Descriptor); err != nil || len(absent) > 0 {
			return false // pushed sparse before: this archive adds platforms
		}
		for _, a := range u.attachedFor(ctx, p) {
			if cur, err := dst.Resolve(ctx, a.tag); err != nil || cur.Digest != a.desc.Digest {
				return false
			}
		}
	}
	return true
}

// referrersAt reports whether dst holds every referrer of desc in the
// archive, and theirs.
func (u *unpacker) referrersAt(ctx context.Context, dst *remote.Repository, desc ocispec.Descriptor) bool {
	preds, err := u.r.Predecessors(ctx, desc)
	if err != nil {
		return false
	}
	for _, pd := range preds {
		if u.opts.RemoveSignatures && isSignatureReferrer(ctx, u.r, pd) {
			continue
		}
		if ok, err := dst.Exists(ctx, pd); err != nil || !ok || !u.referrersAt(ctx, dst, pd) {
			return false
		}
	}
	return true
}
