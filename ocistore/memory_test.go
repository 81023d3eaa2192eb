package ocistore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// Sources of one repository share its client and its auth cache: images of
// one repository ask the token endpoint once, not once per image. And the
// clients a Client keeps are bounded, however many repositories a run
// reads from (they were kept per image, for the whole run: memory that grew
// with the image set).
func TestSourcesShareRepositoryClientsWithinABound(t *testing.T) {
	home := isolateEnv(t)
	reg := regserver.New(t, regserver.Options{Username: "alice", Password: "s3cret-pw", Token: &regserver.TokenAuth{}})
	ctx := context.Background()
	authFile := filepath.Join(home, "auth.json")
	writeFile(t, authFile, `{"auths":{"`+reg.Host+`":{"auth":"`+b64("alice:s3cret-pw")+`"}}}`)
	c, err := NewClient(Options{AuthFile: authFile, Registries: insecureConf(t, "", reg.Host)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const repos, bound = 6, 4
	c.repos.max = bound
	store, md := makeImage(t, "shared layer")
	for i := range repos {
		repo, err := c.Repository(ctx, mustRef(t, fmt.Sprintf("%s/org/app%d", reg.Host, i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := oras.CopyGraph(ctx, store, repo, md, oras.DefaultCopyGraphOptions); err != nil {
			t.Fatal(err)
		}
		if err := repo.Tag(ctx, md, "1"); err != nil {
			t.Fatal(err)
		}
	}

	// Ten images of one repository: one token.
	before := reg.Tokens.Issued()
	for i := range 10 {
		src, err := c.Source(ctx, mustRef(t, fmt.Sprintf("%s/org/app0@%s", reg.Host, md.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := src.Resolve(ctx, ""); err != nil || d.Digest != md.Digest {
			t.Fatalf("image %d: Resolve = %s, %v; want %s", i, d.Digest, err, md.Digest)
		}
	}
	if got := reg.Tokens.Issued() - before; got != 1 {
		t.Errorf("10 images of one repository asked for %d tokens, want 1", got)
	}

	// More repositories than the bound: the client keeps the last ones.
	for i := range repos {
		src, err := c.Source(ctx, mustRef(t, fmt.Sprintf("%s/org/app%d:1", reg.Host, i)))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := src.Resolve(ctx, ""); err != nil || d.Digest != md.Digest {
			t.Fatalf("app%d: Resolve = %s, %v; want %s", i, d.Digest, err, md.Digest)
		}
		if n := c.repos.len(); n > bound {
			t.Fatalf("after %d repositories the client keeps %d clients, above its bound %d", i+1, n, bound)
		}
	}
	if n := c.repos.len(); n != bound {
		t.Errorf("keeps %d clients, want %d (the last used)", n, bound)
	}
	// The first repository was dropped: reading it again works (and
	// authenticates again).
	before = reg.Tokens.Issued()
	src, err := c.Source(ctx, mustRef(t, reg.Host+"/org/app0:1"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := src.Resolve(ctx, ""); err != nil || d.Digest != md.Digest {
		t.Fatalf("app0 again: Resolve = %s, %v", d.Digest, err)
	}
	if got := reg.Tokens.Issued() - before; got != 1 {
		t.Errorf("a dropped repository read again asked for %d tokens, want 1", got)
	}
}

// A Source remembers the first endpoint of each digest, in a slice while it
// is short and indexed beyond: the same answers either way.
func TestServedSetKeepsTheFirstEndpoint(t *testing.T) {
	var s servedSet
	mirror := PullSource{Reference: mustRef(t, "mirror.local/org/app"), Mirror: true}
	origin := PullSource{Reference: mustRef(t, "quay.io/org/app")}
	d := func(i int) digest.Digest { return digest.FromString(fmt.Sprint(i)) }
	for i := range 3 * servedSmall {
		s.add(d(i), mirror)
		s.add(d(i), origin) // a later answer does not replace the first
		for j := range i + 1 {
			if got, ok := s.get(d(j)); !ok || got != mirror {
				t.Fatalf("after %d digests, get(%d) = %v, %v; want the mirror", i+1, j, got, ok)
			}
		}
		if _, ok := s.get(d(i + 1)); ok {
			t.Fatalf("after %d digests, one never served is found", i+1)
		}
	}
	if len(s.list) != 3*servedSmall || len(s.index) != 3*servedSmall {
		t.Errorf("%d entries, %d indexed; want %d", len(s.list), len(s.index), 3*servedSmall)
	}
}
