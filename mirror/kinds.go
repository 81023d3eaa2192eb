package mirror

import (
	"context"
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// planUnpack asks each kind, in order, to claim its roots and place the
// ones selected; each kind sees the roots the kinds before it left. It
// returns the plans and every push, in plan order.
func planUnpack(ctx context.Context, r *archive.Reader, opts UnpackOptions) ([]*section.UnpackPlan, []section.Push, error) {
	if opts.Config != nil {
		var have []imageset.Section
		for _, k := range opts.Kinds {
			have = append(have, k.Section())
		}
		if err := opts.Config.CheckSections(have); err != nil {
			return nil, nil, err
		}
	}
	// Cosign tags go with their subject (unpacker.pushAttached): the kinds
	// never see them.
	roots, _ := splitAttached(r.Roots())
	env := &section.UnpackEnv{Archive: r, Roots: roots, Config: opts.Config, Registry: opts.Registry, Logf: opts.Progress.Logf}
	var plans []*section.UnpackPlan
	var pushes []section.Push
	for _, k := range opts.Kinds {
		p, err := k.Unpack(ctx, env)
		if err != nil {
			return nil, nil, err
		}
		if p == nil {
			continue
		}
		plans = append(plans, p)
		pushes = append(pushes, p.Pushes...)
		env.Roots = unclaimed(env.Roots, p.Claimed)
	}
	return plans, pushes, nil
}

func unclaimed(roots []format.Root, claimed map[digest.Digest]bool) []format.Root {
	var out []format.Root
	for _, r := range roots {
		if !claimed[r.Descriptor.Digest] {
			out = append(out, r)
		}
	}
	return out
}

// finish hands each kind the results of its pushes and writes the cluster
// resources they return, all at once (two kinds never write one file).
func (u *unpacker) finish(ctx context.Context, plans []*section.UnpackPlan, results []ImageResult) ([]string, error) {
	env := &section.FinishEnv{
		ArchiveDigest: u.r.Digest(),
		Registry:      u.opts.Registry,
		Repository:    func(ctx context.Context, path string) (oras.Target, error) { return u.repo(ctx, path) },
		Logf:          u.opts.Progress.Logf,
	}
	var resources []clusterres.Resource
	off := 0
	for _, p := range plans {
		mine := results[off : off+len(p.Pushes)]
		off += len(p.Pushes)
		if p.Finish == nil {
			continue
		}
		rs, err := p.Finish(ctx, env, mine)
		if err != nil {
			return nil, err
		}
		resources = append(resources, rs...)
	}
	if len(resources) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(u.opts.ClusterResources, 0o755); err != nil {
		return nil, fmt.Errorf("cluster resources: %w", err)
	}
	return clusterres.WriteDir(u.opts.ClusterResources, resources...)
}
