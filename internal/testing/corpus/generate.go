package corpus

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
)

// gzipLevel is the compression level of every gzip layer: gzip's default,
// what docker, buildah and buildkit use. Together with the pinned version of
// github.com/klauspost/compress (go.mod) and a header with no name and no
// modification time, it makes compressed layers reproducible. Changing
// either changes every digest; TestGolden notices.
const gzipLevel = gzip.DefaultCompression

// Media types of the referrer artifacts.
const (
	SignatureArtifactType = "application/vnd.enclave.corpus.signature.v1"
	signatureMediaType    = "application/vnd.enclave.corpus.signature.v1+json"
)

// Cache remembers the descriptors of generated layers, keyed by everything
// that determines their bytes. The zero value is empty and ready; a Cache is
// safe for concurrent use.
type Cache struct {
	mu sync.Mutex
	m  map[string]layerDesc
}

type layerDesc struct {
	desc   ocispec.Descriptor
	diffID digest.Digest // of the uncompressed tar
}

func (c *Cache) get(key string) (layerDesc, bool) {
	if c == nil {
		return layerDesc{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[key]
	return d, ok
}

func (c *Cache) put(key string, d layerDesc) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]layerDesc{}
	}
	c.m[key] = d
}

// Generate generates release opts.Release of the corpus selected by opts.Seed
// and pushes every image to the target that target returns for its
// repository (called once per repository, e.g. with a remote.Repository for
// host+"/"+repo). A blob the target already has is not pushed again; a layer
// that another repository of the release already holds is mounted from it
// when the target is a registry.Mounter, so a registry stores it once.
// Images are tagged with "v1" or "v2". Generate returns what it pushed.
func Generate(ctx context.Context, target func(repo string) (oras.Target, error), opts Options) (*Manifest, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := newPlan(o)
	g := &generator{o: o, d: newDict(o.Seed), targets: map[string]oras.Target{}, blobs: map[digest.Digest]Blob{}}
	users := map[*layerSpec][]string{}
	for _, img := range p.images {
		if g.targets[img.repo] == nil {
			t, err := target(img.repo)
			if err != nil {
				return nil, fmt.Errorf("corpus: target for %s: %w", img.repo, err)
			}
			g.targets[img.repo] = t
		}
		for _, pl := range img.platforms {
			for _, l := range pl.layers {
				if u := users[l]; len(u) == 0 || u[len(u)-1] != img.repo {
					users[l] = append(u, img.repo)
				}
			}
		}
	}

	start := time.Now()
	var planned int64
	for _, l := range p.layers {
		planned += l.size
	}
	o.Logf("corpus: release %d: %d images, %d layers, %.0f MB of tar", o.Release, len(p.images), len(p.layers), float64(planned)/1e6)
	descs := make([]layerDesc, len(p.layers))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(o.Concurrency)
	for i, l := range p.layers {
		eg.Go(func() error {
			d, err := g.pushLayer(ectx, l, users[l])
			if err != nil {
				return fmt.Errorf("corpus: layer %s: %w", l.id, err)
			}
			descs[i] = d
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	layers := map[*layerSpec]layerDesc{}
	for i, l := range p.layers {
		layers[l] = descs[i]
		g.addBlob(descs[i].desc, users[l][0])
	}
	o.Logf("corpus: release %d: layers done in %s", o.Release, time.Since(start).Round(time.Millisecond))

	images := make([]Image, len(p.images))
	eg, ectx = errgroup.WithContext(ctx)
	eg.SetLimit(max(o.Concurrency, 4)) // small pushes: latency-bound
	for i, img := range p.images {
		eg.Go(func() error {
			im, err := g.pushImage(ectx, img, layers)
			if err != nil {
				return fmt.Errorf("corpus: image %s: %w", img.repo, err)
			}
			images[i] = im
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(images, func(a, b Image) int { return cmp.Compare(a.Repository, b.Repository) })
	m := &Manifest{Seed: o.Seed, Scale: o.Scale, Release: o.Release, Images: images}
	for _, b := range g.blobs {
		m.Blobs = append(m.Blobs, b)
	}
	slices.SortFunc(m.Blobs, func(a, b Blob) int { return cmp.Compare(a.Digest, b.Digest) })
	o.Logf("corpus: release %d: %d blobs, %.0f MB, in %s", o.Release, len(m.Blobs), float64(m.UniqueBytes())/1e6, time.Since(start).Round(time.Millisecond))
	return m, nil
}

type generator struct {
	o       Options
	d       *dict
	targets map[string]oras.Target // read-only once Generate has filled it

	mu    sync.Mutex
	blobs map[digest.Digest]Blob
}

func (g *generator) addBlob(desc ocispec.Descriptor, repo string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The first repository by name, whatever order pushes finished in.
	if b, ok := g.blobs[desc.Digest]; !ok || repo < b.Repository {
		g.blobs[desc.Digest] = Blob{Digest: desc.Digest, Size: desc.Size, MediaType: desc.MediaType, Repository: repo}
	}
}

// pushLayer makes sure every repository in repos has layer l: pushed to the
// first, mounted from it (or pushed) to the others.
func (g *generator) pushLayer(ctx context.Context, l *layerSpec, repos []string) (layerDesc, error) {
	key := l.key(g.o.Seed)
	var data []byte // the layer, when it is small enough to hold
	ld, ok := g.o.Cache.get(key)
	if !ok {
		var err error
		if l.stream {
			ld, err = g.writeLayer(ctx, io.Discard, l)
		} else {
			ld, data, err = g.renderLayer(ctx, l)
		}
		if err != nil {
			return ld, err
		}
		g.o.Cache.put(key, ld)
	}
	open := func() (io.ReadCloser, error) {
		if data == nil && !l.stream {
			var err error
			if _, data, err = g.renderLayer(ctx, l); err != nil {
				return nil, err
			}
		}
		if data != nil {
			return io.NopCloser(bytes.NewReader(data)), nil
		}
		return g.streamLayer(ctx, l, ld.desc), nil
	}
	for i, repo := range repos {
		t := g.targets[repo]
		if ok, err := t.Exists(ctx, ld.desc); err != nil {
			return ld, err
		} else if ok {
			continue
		}
		if m, ok := t.(registry.Mounter); ok && i > 0 {
			if err := m.Mount(ctx, ld.desc, repos[0], open); err != nil {
				return ld, err
			}
			continue
		}
		rc, err := open()
		if err != nil {
			return ld, err
		}
		err = t.Push(ctx, ld.desc, rc)
		rc.Close()
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return ld, err
		}
	}
	return ld, nil
}

// renderLayer generates layer l into memory.
func (g *generator) renderLayer(ctx context.Context, l *layerSpec) (layerDesc, []byte, error) {
	var buf bytes.Buffer
	if l.gzip {
		buf.Grow(int(l.size / 2))
	} else {
		buf.Grow(int(l.size + l.size/8))
	}
	ld, err := g.writeLayer(ctx, &buf, l)
	return ld, buf.Bytes(), err
}

// streamLayer generates layer l again, as a stream that fails at its end
// unless it matched want.
func (g *generator) streamLayer(ctx context.Context, l *layerSpec, want ocispec.Descriptor) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		ld, err := g.writeLayer(ctx, pw, l)
		if err == nil && ld.desc.Digest != want.Digest {
			err = fmt.Errorf("corpus: layer %s regenerated as %s, want %s: generation is not deterministic", l.id, ld.desc.Digest, want.Digest)
		}
		pw.CloseWithError(err)
	}()
	return pr
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// ctxWriter fails writes once ctx is done, so that a long generation stops.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// writeLayer generates layer l to w and returns its descriptor.
func (g *generator) writeLayer(ctx context.Context, w io.Writer, l *layerSpec) (layerDesc, error) {
	blob, diff := digest.SHA256.Digester(), digest.SHA256.Digester()
	var n counter
	out := io.MultiWriter(blob.Hash(), &n, ctxWriter{ctx, w})
	tarOut := io.MultiWriter(diff.Hash(), out)
	var gz *gzip.Writer
	if l.gzip {
		var err error
		if gz, err = gzip.NewWriterLevel(out, gzipLevel); err != nil {
			return layerDesc{}, err
		}
		tarOut = io.MultiWriter(diff.Hash(), gz)
	}
	lw := newLayerWriter(tarOut, g.d, newRNG(g.o.Seed, "layer", l.id))
	var err error
	if l.mix == mixBig {
		err = lw.file("opt/model", fileRandom, max(l.size-3*512, 0))
	} else {
		err = lw.fill(l.mix, l.size)
	}
	if err == nil {
		err = lw.Close()
	}
	if err == nil && gz != nil {
		err = gz.Close()
	}
	if err != nil {
		return layerDesc{}, err
	}
	mt := ocispec.MediaTypeImageLayer
	if l.gzip {
		mt = ocispec.MediaTypeImageLayerGzip
	}
	return layerDesc{
		desc:   ocispec.Descriptor{MediaType: mt, Digest: blob.Digest(), Size: n.n},
		diffID: diff.Digest(),
	}, nil
}

// pushImage pushes the configs, manifests, index and referrer of img, whose
// layers are already in place, and tags it.
func (g *generator) pushImage(ctx context.Context, img *imageSpec, layers map[*layerSpec]layerDesc) (Image, error) {
	t := g.targets[img.repo]
	tag := tagFor(g.o.Release)
	im := Image{Repository: img.repo, Tag: tag, BigLayer: img.big}
	var reach []ocispec.Descriptor
	var manifests []ocispec.Descriptor
	for _, pl := range img.platforms {
		platform := &ocispec.Platform{Architecture: pl.arch, OS: "linux"}
		if pl.arch == "arm64" {
			platform.Variant = "v8"
		}
		im.Platforms = append(im.Platforms, "linux/"+pl.arch)
		cfg := ocispec.Image{
			Created:  &modTime,
			Platform: *platform,
			Config: ocispec.ImageConfig{
				Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				Entrypoint: []string{"/opt/app/bin/" + img.repo[len("ocp/"):]},
				Labels:     map[string]string{"io.enclave.corpus.seed": fmt.Sprint(g.o.Seed), "name": img.repo},
			},
			RootFS: ocispec.RootFS{Type: "layers"},
		}
		man := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
		for _, l := range pl.layers {
			ld := layers[l]
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, ld.diffID)
			cfg.History = append(cfg.History, ocispec.History{Created: &modTime, CreatedBy: "enclave corpus: " + l.id})
			man.Layers = append(man.Layers, ld.desc)
			reach = append(reach, ld.desc)
		}
		var err error
		if man.Config, err = g.pushJSON(ctx, t, img.repo, ocispec.MediaTypeImageConfig, cfg); err != nil {
			return im, err
		}
		desc, err := g.pushJSON(ctx, t, img.repo, man.MediaType, man)
		if err != nil {
			return im, err
		}
		desc.Platform = platform
		manifests = append(manifests, desc)
		reach = append(reach, man.Config, desc)
	}
	top := manifests[0]
	top.Platform = nil
	if len(manifests) > 1 {
		idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
		var err error
		if top, err = g.pushJSON(ctx, t, img.repo, idx.MediaType, idx); err != nil {
			return im, err
		}
		reach = append(reach, top)
	}
	if err := t.Tag(ctx, top, tag); err != nil {
		return im, fmt.Errorf("tag %s: %w", tag, err)
	}
	im.Digest, im.MediaType, im.Size = top.Digest, top.MediaType, top.Size
	if img.signed {
		descs, err := g.pushSignature(ctx, t, img.repo, top)
		if err != nil {
			return im, fmt.Errorf("signature: %w", err)
		}
		im.Referrers = append(im.Referrers, descs[0].Digest)
		reach = append(reach, descs...)
	}
	set := map[digest.Digest]bool{}
	for _, d := range reach {
		set[d.Digest] = true
	}
	for d := range set {
		im.Blobs = append(im.Blobs, d)
	}
	slices.Sort(im.Blobs)
	return im, nil
}

// pushSignature pushes a signature-like artifact whose subject is subject.
// It returns the artifact manifest's descriptor first, then its blobs'.
func (g *generator) pushSignature(ctx context.Context, t oras.Target, repo string, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	sig := make([]byte, 64)
	newRNG(g.o.Seed, "signature", subject.Digest.String()).fill(sig)
	payload := map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": subject.Digest.String()},
			"type":     "enclave corpus signature",
		},
		"signature": base64.StdEncoding.EncodeToString(sig),
	}
	layer, err := g.pushJSON(ctx, t, repo, signatureMediaType, payload)
	if err != nil {
		return nil, err
	}
	cfg := ocispec.DescriptorEmptyJSON
	if err := g.push(ctx, t, repo, cfg, ocispec.DescriptorEmptyJSON.Data); err != nil {
		return nil, err
	}
	cfg.Data = nil
	man := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: SignatureArtifactType,
		Config:       cfg,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &subject,
		Annotations:  map[string]string{ocispec.AnnotationCreated: modTime.Format(time.RFC3339)},
	}
	desc, err := g.pushJSON(ctx, t, repo, man.MediaType, man)
	if err != nil {
		return nil, err
	}
	return []ocispec.Descriptor{desc, layer, cfg}, nil
}

// pushJSON pushes v as JSON (encoding/json: struct fields in order, map keys
// sorted, so the bytes are reproducible).
func (g *generator) pushJSON(ctx context.Context, t oras.Target, repo, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	return desc, g.push(ctx, t, repo, desc, b)
}

func (g *generator) push(ctx context.Context, t oras.Target, repo string, desc ocispec.Descriptor, b []byte) error {
	desc.Data = nil
	g.addBlob(desc, repo)
	if ok, err := t.Exists(ctx, desc); err != nil || ok {
		return err
	}
	if err := t.Push(ctx, desc, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return err
	}
	return nil
}
