package ocistore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// TestResolveTagOfThroughDigestOnlyMirror: the mirror is
// mirror-by-digest-only (as clusters' IDMS-derived configurations are). A
// cosign tag of a digest is found at the mirror under the original name;
// its absence there is "not found", and the origin is not asked (inside an
// enclave it cannot be reached, and would cost its retries for every
// absent signature); without any endpoint answering, the error is the
// network's.
func TestResolveTagOfThroughDigestOnlyMirror(t *testing.T) {
	isolateEnv(t)
	ctx := context.Background()
	mirror := regserver.New(t, regserver.Options{})
	var originRequests counter
	origin := regserver.New(t, regserver.Options{Wrap: originRequests.wrap}) // stays empty
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close() // connection refused from now on

	store, md := makeImage(t, "signed layer")
	c0, err := NewClient(Options{Registries: insecureConf(t, "", mirror.Host)})
	if err != nil {
		t.Fatal(err)
	}
	mrepo, err := c0.Repository(ctx, mustRef(t, mirror.Host+"/mirror/org/app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, store, mrepo, md, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	sigSrc, sigDesc := makeImage(t, "a signature manifest")
	if err := oras.CopyGraph(ctx, sigSrc, mrepo, sigDesc, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	sigTag := "sha256-" + md.Digest.Encoded() + ".sig"
	if err := mrepo.Tag(ctx, sigDesc, sigTag); err != nil {
		t.Fatal(err)
	}

	conf := "[[registry]]\nprefix = \"" + origin.Host + "/org\"\ninsecure = true\nmirror-by-digest-only = true\n" +
		"[[registry.mirror]]\nlocation = \"" + mirror.Host + "/mirror/org\"\ninsecure = true\n"
	rc, err := ParseRegistriesConf("mirrors.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	src, err := Source(ctx, mustRef(t, origin.Host+"/org/app@"+md.Digest.String()), Options{Registries: rc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Resolve(ctx, ""); err != nil {
		t.Fatal(err)
	}
	got, err := src.ResolveTagOf(ctx, md.Digest, sigTag)
	if err != nil || got.Digest != sigDesc.Digest {
		t.Fatalf("ResolveTagOf(%s) = %v, %v; want %s from the mirror", sigTag, got.Digest, err, sigDesc.Digest)
	}
	if from, ok := src.ServedBy(sigDesc.Digest); !ok || !from.Mirror {
		t.Fatalf("served by %v, want the mirror", from)
	}

	_, err = src.ResolveTagOf(ctx, md.Digest, "sha256-"+md.Digest.Encoded()+".att")
	if Classify(err) != KindNotFound {
		t.Fatalf("absent tag: %v (kind %v), want not found", err, Classify(err))
	}
	if n := originRequests.n.Load(); n != 0 {
		t.Fatalf("the origin was asked %d times; the mirror that holds the image answers for its signatures", n)
	}

	// No mirror: the origin alone, unreachable, is an error, not absence.
	alone, err := Source(ctx, mustRef(t, deadHost+"/org/app@"+md.Digest.String()), Options{Registries: insecureConf(t, "", deadHost)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = alone.ResolveTagOf(ctx, md.Digest, sigTag); err == nil || Classify(err) == KindNotFound {
		t.Fatalf("unreachable origin: %v (kind %v), want a network error", err, Classify(err))
	}
}

// TestResolveTagOfAtTheImagesEndpoint: a mirror that lacks the image
// answers "not found" for everything of it; the cosign tag of a manifest
// never read through the source (an index's child that a copy found at
// its destination) is looked up first where the image was resolved: the
// origin here.
func TestResolveTagOfAtTheImagesEndpoint(t *testing.T) {
	isolateEnv(t)
	ctx := context.Background()
	origin := regserver.New(t, regserver.Options{})
	empty := regserver.New(t, regserver.Options{})
	c0, err := NewClient(Options{Registries: insecureConf(t, "", origin.Host)})
	if err != nil {
		t.Fatal(err)
	}
	orepo, err := c0.Repository(ctx, mustRef(t, origin.Host+"/org/app"))
	if err != nil {
		t.Fatal(err)
	}
	store, md := makeImage(t, "the image")
	if err := oras.CopyGraph(ctx, store, orepo, md, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := orepo.Tag(ctx, md, "1.0"); err != nil {
		t.Fatal(err)
	}
	_, child := makeImage(t, "a child never fetched")
	sigSrc, sigDesc := makeImage(t, "its signature")
	if err := oras.CopyGraph(ctx, sigSrc, orepo, sigDesc, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	sigTag := "sha256-" + child.Digest.Encoded() + ".sig"
	if err := orepo.Tag(ctx, sigDesc, sigTag); err != nil {
		t.Fatal(err)
	}
	conf := "[[registry]]\nprefix = \"" + origin.Host + "/org\"\ninsecure = true\n" +
		"[[registry.mirror]]\nlocation = \"" + empty.Host + "/mirror/org\"\ninsecure = true\n"
	rc, err := ParseRegistriesConf("mirrors.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	src, err := Source(ctx, mustRef(t, origin.Host+"/org/app:1.0"), Options{Registries: rc})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := src.Resolve(ctx, ""); err != nil || got.Digest != md.Digest {
		t.Fatalf("Resolve = %v, %v", got.Digest, err)
	}
	got, err := src.ResolveTagOf(ctx, child.Digest, sigTag)
	if err != nil || got.Digest != sigDesc.Digest {
		t.Fatalf("ResolveTagOf = %v, %v; want %s from the origin", got.Digest, err, sigDesc.Digest)
	}
}
