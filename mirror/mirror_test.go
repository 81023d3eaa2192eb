package mirror_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/mirror/additional"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
)

func repo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

func config(t *testing.T, yaml string) *imageset.Config {
	t.Helper()
	c, err := imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"+yaml), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seed pushes one image, tagged, and returns its descriptor.
func seed(t *testing.T, host, name, tag string, seed uint64) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	r := repo(t, host, name)
	d, err := archivetest.Image(ctx, r, "amd64", archivetest.Blob(seed, 4000, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, d, tag); err != nil {
		t.Fatal(err)
	}
	return d
}

// testKind is a kind of content made for this test: it plans one image
// built in memory (section.Image.From), one attachment, and at unpack claims
// its image, places it under "built/", and writes one cluster resource.
type testKind struct {
	built    ocispec.Descriptor
	store    *memory.Store
	finished []section.Result
}

func newTestKind(t *testing.T) *testKind {
	t.Helper()
	s := memory.New()
	d, err := archivetest.Image(context.Background(), s, "amd64", archivetest.Blob(77, 3000, false))
	if err != nil {
		t.Fatal(err)
	}
	return &testKind{built: d, store: s}
}

func (k *testKind) Section() imageset.Section { return "mirror.test" }

func (k *testKind) Pack(ctx context.Context, env *section.PackEnv) (*section.PackPlan, error) {
	src := imageset.Reference{Registry: "built.local", Repository: "test/built", Digest: k.built.Digest}
	return &section.PackPlan{
		Images: []section.Image{{Mapping: imageset.Mapping{Source: src, Destination: imageset.Reference{Repository: "test/built", Tag: "v1", Digest: k.built.Digest}}, From: k.store, Root: k.built}},
		Deliver: func(ctx context.Context, results []section.Result) (*section.Delivery, error) {
			if len(results) != 1 || results[0].Err != nil || results[0].Digest != k.built.Digest {
				return nil, fmt.Errorf("testKind: Deliver got %+v", results)
			}
			return &section.Delivery{Attachments: []section.Attachment{{Name: "test/notes.txt", MediaType: "text/plain", Data: []byte("carried")}}}, nil
		},
	}, nil
}

func (k *testKind) Unpack(ctx context.Context, env *section.UnpackEnv) (*section.UnpackPlan, error) {
	plan := &section.UnpackPlan{Claimed: map[digest.Digest]bool{k.built.Digest: true}}
	for _, root := range env.Roots {
		if root.Descriptor.Digest != k.built.Digest {
			continue
		}
		dst, err := ocistore.ParseReference(env.Registry + "/built/test:v1")
		if err != nil {
			return nil, err
		}
		plan.Pushes = append(plan.Pushes, section.Push{Root: root, Source: imageset.Reference{Registry: "built.local", Repository: "test/built"}, Dest: dst, Tag: "v1"})
	}
	plan.Finish = func(ctx context.Context, env *section.FinishEnv, results []section.Result) ([]clusterres.Resource, error) {
		k.finished = results
		return []clusterres.Resource{{Kind: "ConfigMap", Name: "test-" + clusterres.ArchiveName(env.ArchiveDigest), Namespace: "default",
			Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "test"}}}}, nil
	}
	return plan, nil
}

// TestPackUnpackThroughKinds drives Pack and Unpack directly, with the
// additional-images kind and a kind made here: an image built in memory is
// an ordinary root, an attachment is carried, each kind sees only its own
// results, and the roots a kind claims are not placed again by the
// catch-all.
func TestPackUnpackThroughKinds(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	app := seed(t, src.Host, "org/app", "v1", 1)
	cfg := config(t, "mirror:\n  additionalImages:\n    - name: "+src.Host+"/org/app:v1\n")
	tk := newTestKind(t)
	kinds := []section.Kind{tk, additional.New()}
	dir := filepath.Join(t.TempDir(), "archive")

	res, err := mirror.Pack(ctx, mirror.PackOptions{Config: cfg, Archive: dir, Source: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || res.Images[0].Digest != tk.built.Digest || res.Images[1].Digest != app.Digest {
		t.Fatalf("images %+v", res.Images)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var roots []digest.Digest
	for _, root := range r.Roots() {
		roots = append(roots, root.Descriptor.Digest)
	}
	atts := r.Manifest().Attachments
	r.Close()
	if !slices.Contains(roots, tk.built.Digest) || !slices.Contains(roots, app.Digest) {
		t.Fatalf("roots %v lack the built image %s or the app %s", roots, tk.built.Digest, app.Digest)
	}
	if len(atts) != 1 || atts[0].Name != "test/notes.txt" {
		t.Fatalf("attachments %+v", atts)
	}

	// The dry run of an unpack lists the pushes and writes nothing.
	dry, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds,
		DryRun: true, Receipt: filepath.Join(t.TempDir(), "r.json")})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Plan) != 2 {
		t.Fatalf("dry-run plan %q", dry.Plan)
	}
	if _, err := repo(t, dst.Host, "m/org/app").Resolve(ctx, "v1"); err == nil {
		t.Fatal("a dry run pushed")
	}

	cr := filepath.Join(t.TempDir(), "cr")
	ures, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds,
		ClusterResources: cr, Receipt: filepath.Join(t.TempDir(), "r.json")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]digest.Digest{"m/built/test:v1": tk.built.Digest, "m/org/app:v1": app.Digest} {
		repoName, tag, _ := strings.Cut(name, ":")
		got, err := repo(t, dst.Host, repoName).Resolve(ctx, tag)
		if err != nil || got.Digest != want {
			t.Errorf("%s: %v %v, want %s", name, got.Digest, err, want)
		}
	}
	if _, err := repo(t, dst.Host, "m/test/built").Resolve(ctx, "v1"); err == nil {
		t.Error("the catch-all placed a root another kind claimed")
	}
	if len(tk.finished) != 1 || tk.finished[0].Digest != tk.built.Digest || tk.finished[0].Err != nil {
		t.Errorf("the test kind finished with %+v, want its one push", tk.finished)
	}
	var names []string
	for _, p := range ures.ClusterResources {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	want := []string{"configmap_default_test-" + clusterres.ArchiveName(ures.ArchiveDigest) + ".yaml",
		"imagedigestmirrorset_" + clusterres.ArchiveName(ures.ArchiveDigest) + ".yaml",
		"imagetagmirrorset_" + clusterres.ArchiveName(ures.ArchiveDigest) + ".yaml"}
	if !slices.Equal(names, want) {
		t.Errorf("cluster resources %v, want %v", names, want)
	}
}

// TestPackRefusesUnplannedSection: a section no kind plans is refused
// before anything is read, naming the section.
func TestPackRefusesUnplannedSection(t *testing.T) {
	cfg := config(t, "mirror:\n  helm:\n    local:\n      - name: c\n        path: /nonexistent.tgz\n")
	_, err := mirror.Pack(context.Background(), mirror.PackOptions{Config: cfg, Archive: t.TempDir() + "/a", Kinds: []section.Kind{additional.New()}})
	if !errors.Is(err, imageset.ErrNotImplemented) || !strings.Contains(err.Error(), "mirror.helm") {
		t.Fatalf("err = %v, want ErrNotImplemented naming mirror.helm", err)
	}
}

// TestPackDryRun plans without writing: into an archive (no directory is
// created) and into a registry (nothing is pushed), one line per image.
func TestPackDryRun(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	app := seed(t, src.Host, "org/app", "v1", 2)
	cfg := config(t, "mirror:\n  additionalImages:\n    - name: "+src.Host+"/org/app:v1\n")
	dir := filepath.Join(t.TempDir(), "archive")
	for _, opts := range []mirror.PackOptions{
		{Config: cfg, Archive: dir, DryRun: true, Source: ocistore.Options{SkipTLSVerify: true}},
		{Config: cfg, Registry: dst.Host + "/m", DryRun: true, Source: ocistore.Options{SkipTLSVerify: true}, Dest: ocistore.Options{SkipTLSVerify: true}},
	} {
		res, err := mirror.Pack(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Plan) != 1 || !strings.Contains(res.Plan[0], app.Digest.String()) || !strings.Contains(res.Plan[0], "org/app:v1") {
			t.Errorf("plan %q", res.Plan)
		}
		if len(res.Images) != 1 || res.Images[0].Err != nil {
			t.Errorf("images %+v", res.Images)
		}
	}
	if _, err := archive.Open(dir); err == nil {
		t.Error("a dry run wrote an archive")
	}
	if _, err := repo(t, dst.Host, "m/org/app").Resolve(ctx, "v1"); err == nil {
		t.Error("a dry run pushed")
	}
}
