package e2e

// Group B of RELIABILITY.md for graphs: an index nested 1,000 deep at the
// source, hostile archives made without the writer's checks (nested too
// deep, type-confused manifests), and foreign layers whose urls must never
// be fetched.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// manifestGets counts GET requests for manifests, by repository path.
type manifestGets struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *manifestGets) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if repo, _, ok := strings.Cut(r.URL.Path, "/manifests/"); ok {
				c.mu.Lock()
				c.n[strings.TrimPrefix(repo, "/v2/")]++
				c.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (c *manifestGets) count(repo string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[repo]
}

// chain pushes an image (of one layer made from seed) and n indexes over
// it, each over the one before, and returns the top index and the image
// manifest.
func chain(t *testing.T, dst content.Pusher, n int, seed uint64) (top, image ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	image, err := archivetest.Image(ctx, dst, "amd64", archivetest.Blob(seed, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	top = image
	for range n {
		if top, err = archivetest.Index(ctx, dst, top); err != nil {
			t.Fatal(err)
		}
	}
	return top, image
}

// graphBlobs returns every blob of root's graph in a store.
func graphBlobs(t *testing.T, s content.ReadOnlyStorage, root ocispec.Descriptor) [][]byte {
	t.Helper()
	ctx := context.Background()
	var out [][]byte
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor)
	walk = func(d ocispec.Descriptor) {
		if seen[d.Digest] {
			return
		}
		seen[d.Digest] = true
		b, err := content.FetchAll(ctx, s, d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		succ, err := content.Successors(ctx, s, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range succ {
			walk(c)
		}
	}
	walk(root)
	return out
}

// TestReliabilityDeepIndexAtSource: an index nested 1,000 deep in a real
// registry. Pack refuses that image after reading a bounded number of its
// manifests (not 1,000), names it, packs the others, and the archive it
// writes verifies: no archive unpack would refuse is ever written.
func TestReliabilityDeepIndexAtSource(t *testing.T) {
	gets := &manifestGets{n: map[string]int{}}
	src := regserver.New(t, regserver.Options{Wrap: gets.wrap})
	s, _ := seed(t, src, 1, src.Host)
	deep := repo(t, src.Host, "deep/app")
	top, image := chain(t, deep, 1000, 1)
	if err := deep.Tag(context.Background(), top, "deep"); err != nil {
		t.Fatal(err)
	}
	before := gets.count("deep/app")

	isc := writeISC(t, s, src.Host, src.Host+"/deep/app:deep")
	dir := filepath.Join(t.TempDir(), "content")
	r := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir)
	mustCode(t, r, mirror.ExitFailure)
	mustSay(t, r, "deep/app:deep", fmt.Sprintf("nested more than %d deep", archive.MaxGraphDepth), "1 failed")
	// The walk stops at the bound: the top index, then one read per level
	// down to the first one too deep (oras-go may read a manifest twice:
	// resolve, then fetch).
	if n := gets.count("deep/app") - before; n > 2*(archive.MaxGraphDepth+2) {
		t.Errorf("pack read %d manifests of the 1,000-deep chain; the bound should stop it near %d", n, archive.MaxGraphDepth+2)
	}
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	for _, d := range []digest.Digest{top.Digest, image.Digest} {
		if _, ok := ar.Format().Lookup(d); ok {
			t.Errorf("the archive holds %s of the refused chain", d)
		}
	}
	if got, want := len(ar.Roots()), len(s.Tags); got < want {
		t.Errorf("the archive has %d roots, want the %d good images", got, want)
	}
	mustCode(t, unpack(t, "verify", "file://"+dir), 0)
}

// TestReliabilityHostileGraphArchives: archives made without the writer's
// checks. Verify and unpack refuse, before any write, a graph nested deeper
// than the bound and manifests that are both index and image or whose
// mediaType disagrees with their descriptor (CVE-2021-41190); a graph at
// the bound is accepted and pushed.
func TestReliabilityHostileGraphArchives(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	good, _ := chain(t, mem, 1, 1)
	atLimit, _ := chain(t, mem, archive.MaxGraphDepth, 2)
	tooDeep, _ := chain(t, mem, archive.MaxGraphDepth+1, 3)

	// Type confusion, built from the good image's own parts.
	var gm ocispec.Manifest
	img, err := content.Successors(ctx, mem, good)
	if err != nil || len(img) != 1 {
		t.Fatalf("successors of the good index: %v %v", img, err)
	}
	gb, err := content.FetchAll(ctx, mem, img[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gb, &gm); err != nil {
		t.Fatal(err)
	}
	both, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageIndex,
		"manifests": []ocispec.Descriptor{img[0]}, "layers": gm.Layers})
	mismatch, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Config: gm.Config, Layers: gm.Layers})
	bothDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(both), Size: int64(len(both))}
	mismatchDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mismatch), Size: int64(len(mismatch))}

	build := func(t *testing.T, bad ocispec.Descriptor, extra ...[]byte) string {
		blobs := append(graphBlobs(t, mem, good), extra...)
		if ok, _ := mem.Exists(ctx, bad); ok {
			blobs = append(blobs, graphBlobs(t, mem, bad)...)
		}
		roots := []format.Root{{Descriptor: good, References: []string{"example.com/team/good:v1"}}}
		if bad.Digest != "" {
			roots = append(roots, format.Root{Descriptor: bad, References: []string{"example.com/team/bad:v1"}})
		}
		dir := filepath.Join(t.TempDir(), "content")
		if _, err := archivetest.HandMade(dir, blobs, format.Manifest{Roots: roots}); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	for _, c := range []struct {
		name  string
		root  ocispec.Descriptor
		extra [][]byte
		say   string
	}{
		{"nested one level past the bound", tooDeep, nil, fmt.Sprintf("nested more than %d deep", archive.MaxGraphDepth)},
		{"both manifests and layers", bothDesc, [][]byte{both}, "has both manifests and layers"},
		{"mediaType disagrees with its descriptor", mismatchDesc, [][]byte{mismatch}, "says mediaType"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := build(t, c.root, c.extra...)
			r := unpack(t, "verify", "file://"+dir)
			mustCode(t, r, mirror.ExitIntegrity)
			mustSay(t, r, c.say, "example.com/team/bad:v1", c.root.Digest.String())
			var wc writeCounter
			dst := regserver.New(t, regserver.Options{Wrap: wc.wrap})
			for _, extra := range [][]string{nil, {"--verify-first"}, {"--skip-verify"}} {
				r = unpack(t, unpackArgs(t, dir, dst.Host, extra...)...)
				mustCode(t, r, mirror.ExitIntegrity)
				mustSay(t, r, c.say, "nothing was pushed")
				if n := wc.n.Load(); n != 0 {
					t.Fatalf("%d write requests reached the destination (flags %v)", n, extra)
				}
			}
		})
	}

	t.Run("nested exactly to the bound: accepted", func(t *testing.T) {
		dir := build(t, atLimit)
		mustCode(t, unpack(t, "verify", "file://"+dir), 0)
		dst := regserver.New(t, regserver.Options{})
		mustCode(t, unpack(t, unpackArgs(t, dir, dst.Host)...), 0)
		got, err := repo(t, dst.Host, "mirror/team/bad").Resolve(ctx, "v1")
		if err != nil || got.Digest != atLimit.Digest {
			t.Fatalf("mirror/team/bad:v1 = %v, %v; want %s", got.Digest, err, atLimit.Digest)
		}
	})
}

// TestReliabilityForeignLayers: images with non-distributable layers (the
// Docker foreign type and the OCI non-distributable type, as Windows base
// images have) whose urls point at a server that counts requests. Pack and
// unpack succeed, carry the rest of each image, never fetch a url (so never
// send credentials there), name only the url's host, never its query, and
// the mirrored manifests keep their digests.
func TestReliabilityForeignLayers(t *testing.T) {
	ctx := context.Background()
	var urlHits atomic.Int64
	foreignHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urlHits.Add(1)
		http.Error(w, "never to be asked", http.StatusTeapot)
	}))
	t.Cleanup(foreignHost.Close)
	const secret = "sig=never-printed"

	// Registries accept foreign urls only when told which (distribution
	// refuses every one by default): both sides are told loopback.
	const allow = `^http://127\.0\.0\.1:[0-9]+/layers/`
	src := regserver.New(t, regserver.Options{Username: "u", Password: "p", AllowURLs: allow})
	win := repo(t, src.Host, "win/app")
	win.Client = authClient(src.Host, "u", "p")
	push := func(mt string, b []byte) ocispec.Descriptor {
		d, err := oras.PushBytes(ctx, win, mt, b)
		if err != nil {
			t.Fatalf("push %s: %v", mt, err)
		}
		return d
	}
	foreign := func(mt string, seed uint64) ocispec.Descriptor {
		b := archivetest.Blob(seed, 4096, false) // never pushed anywhere
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b)),
			URLs: []string{foreignHost.URL + "/layers/" + digest.FromBytes(b).Encoded() + "?" + secret}}
	}
	const dockerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	const ociNonDist = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	dockerCfg := push("application/vnd.docker.container.image.v1+json", []byte(`{"architecture":"amd64","os":"windows","rootfs":{"type":"layers"}}`))
	ociCfg := push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"windows","rootfs":{"type":"layers"}}`))
	own := push("application/vnd.docker.image.rootfs.diff.tar.gzip", archivetest.Blob(5, 3000, false))
	ownOCI := push(ocispec.MediaTypeImageLayerGzip, archivetest.Blob(6, 3000, false))
	fd, fo := foreign(dockerForeign, 1), foreign(ociNonDist, 2)

	images := map[string]ocispec.Descriptor{}
	for tag, m := range map[string]map[string]any{
		"docker": {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
			"config": dockerCfg, "layers": []ocispec.Descriptor{fd, own}},
		"oci": {"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
			"config": ociCfg, "layers": []ocispec.Descriptor{fo, ownOCI}},
	} {
		b, _ := json.Marshal(m)
		d, err := oras.TagBytes(ctx, win, m["mediaType"].(string), b, tag)
		if err != nil {
			t.Fatalf("the source registry refuses the %s image: %v", tag, err)
		}
		images[tag] = d
	}

	auth := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(auth, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, src.Host, base64.StdEncoding.EncodeToString([]byte("u:p")))), 0o600); err != nil {
		t.Fatal(err)
	}
	isc := writeISC(t, &archivetest.Sample{}, src.Host, src.Host+"/win/app:docker", src.Host+"/win/app:oci")
	dir := filepath.Join(t.TempDir(), "content")
	r := pack(t, "-c", isc, "--src-tls-verify=false", "--authfile", auth, "--log-level", "debug", "file://"+dir)
	mustCode(t, r, 0)
	mustSay(t, r, "non-distributable", strings.TrimPrefix(foreignHost.URL, "http://"))
	mustNotSay(t, r, secret)
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{fd, fo} {
		if _, ok := ar.Format().Lookup(d.Digest); ok {
			t.Errorf("the archive carries foreign layer %s", d.Digest)
		}
	}
	for _, d := range []ocispec.Descriptor{own, ownOCI, images["docker"], images["oci"]} {
		if _, ok := ar.Format().Lookup(d.Digest); !ok {
			t.Errorf("the archive lacks %s", d.Digest)
		}
	}
	ar.Close()

	dst := regserver.New(t, regserver.Options{AllowURLs: allow})
	args := unpackArgs(t, dir, dst.Host, "--log-level", "debug")
	r = unpack(t, args...)
	mustCode(t, r, 0)
	mustNotSay(t, r, secret)
	for tag, want := range images {
		got, err := repo(t, dst.Host, "mirror/win/app").Resolve(ctx, tag)
		if err != nil || got.Digest != want.Digest {
			t.Fatalf("mirror/win/app:%s = %v, %v; want %s", tag, got.Digest, err, want.Digest)
		}
	}
	for _, d := range []ocispec.Descriptor{fd, fo} {
		if ok, err := repo(t, dst.Host, "mirror/win/app").Exists(ctx, d); err != nil || ok {
			t.Errorf("foreign layer %s at the destination: %v %v", d.Digest, ok, err)
		}
	}
	// A second run moves nothing and still asks no url.
	mustCode(t, unpack(t, args...), 0)
	if n := urlHits.Load(); n != 0 {
		t.Fatalf("%d requests reached the foreign layers' host", n)
	}
}

// TestReliabilityReferrerCycleThroughTags: a source registry without the
// referrers API, whose referrers tags (sha256-<hex>, the fallback schema)
// make a cycle: the image's tag lists its signature, the signature's tag
// lists the image. Pack ends, in bounded work, with the image and its
// signature packed once each; unpack pushes both.
func TestReliabilityReferrerCycleThroughTags(t *testing.T) {
	ctx := context.Background()
	manifests := map[string][]byte{}
	types := map[string]string{}
	var noReferrersAPI atomic.Bool
	gets := &manifestGets{n: map[string]int{}}
	src := regserver.New(t, regserver.Options{Wrap: func(h http.Handler) http.Handler {
		crafted := craftedManifests(manifests, types)(h)
		return gets.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if noReferrersAPI.Load() && strings.Contains(r.URL.Path, "/referrers/") {
				http.NotFound(w, r)
				return
			}
			crafted.ServeHTTP(w, r)
		}))
	}})
	cyc := repo(t, src.Host, "cyc/app")
	img, err := archivetest.Image(ctx, cyc, "amd64", archivetest.Blob(50, 3000, false))
	if err != nil {
		t.Fatal(err)
	}
	img.Platform = nil
	if err := cyc.Tag(ctx, img, "v1"); err != nil {
		t.Fatal(err)
	}
	sig, err := archivetest.Referrer(ctx, cyc, img, "application/vnd.example.signature", archivetest.Blob(51, 100, false))
	if err != nil {
		t.Fatal(err)
	}
	index := func(ds ...ocispec.Descriptor) []byte {
		b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ds})
		return b
	}
	tagOf := func(d ocispec.Descriptor) string {
		return "cyc/app:" + d.Digest.Algorithm().String() + "-" + d.Digest.Encoded()
	}
	manifests[tagOf(img)], types[tagOf(img)] = index(sig), ocispec.MediaTypeImageIndex
	manifests[tagOf(sig)], types[tagOf(sig)] = index(img), ocispec.MediaTypeImageIndex
	noReferrersAPI.Store(true)

	isc := writeISC(t, &archivetest.Sample{}, src.Host, src.Host+"/cyc/app:v1")
	dir := filepath.Join(t.TempDir(), "content")
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r := runCtx(tctx, t, "pack", "-c", isc, "--src-tls-verify=false", "file://"+dir)
	mustCode(t, r, 0)
	if n := gets.count("cyc/app"); n > 20 {
		t.Errorf("pack made %d manifest requests for one image and one signature", n)
	}
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{img, sig} {
		if _, ok := ar.Format().Lookup(d.Digest); !ok {
			t.Errorf("the archive lacks %s", d.Digest)
		}
	}
	ar.Close()
	dst := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, unpackArgs(t, dir, dst.Host)...), 0)
	m := repo(t, dst.Host, "mirror/cyc/app")
	if got, err := m.Resolve(ctx, "v1"); err != nil || got.Digest != img.Digest {
		t.Fatalf("mirror/cyc/app:v1 = %v, %v; want %s", got.Digest, err, img.Digest)
	}
	if ok, err := m.Exists(ctx, sig); err != nil || !ok {
		t.Fatalf("signature %s at the destination: %v %v", sig.Digest, ok, err)
	}
}
