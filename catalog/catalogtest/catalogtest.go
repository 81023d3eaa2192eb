// Package catalogtest builds operator catalog images for tests: the shape
// `opm generate dockerfile` gives (OPERATORS.md 2.1), without docker, into
// any oras content store.
package catalogtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// ConfigsLabel is the label naming the FBC directory.
const ConfigsLabel = "operators.operatorframework.io.index.configs.v1"

// Image pushes a catalog image holding files (paths relative to /configs,
// such as "alpha/catalog.json") to dst and returns its manifest: a base
// layer with a stand-in /bin/opm and a serve cache that matches nothing
// (/tmp/cache/pogreb.v1/digest), then a layer with the files; the config
// has the configs label and the command of opm-built index images
// (["serve", "/configs", "--cache-dir=/tmp/cache"]). Same files, same
// digest.
func Image(ctx context.Context, dst content.Pusher, arch string, files map[string][]byte) (ocispec.Descriptor, error) {
	base, baseID, err := layer(map[string][]byte{"bin/opm": []byte("#!/bin/sh\n"), "tmp/cache/pogreb.v1/digest": []byte("stale")})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	fbc := map[string][]byte{}
	for p, b := range files {
		fbc["configs/"+p] = b
	}
	cfgLayer, cfgID, err := layer(fbc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var layers []ocispec.Descriptor
	for _, b := range [][]byte{base, cfgLayer} {
		d, err := push(ctx, dst, ocispec.MediaTypeImageLayerGzip, b)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		layers = append(layers, d)
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux",
		"config": map[string]any{
			"Labels":     map[string]string{ConfigsLabel: "/configs"},
			"Entrypoint": []string{"/bin/opm"},
			"Cmd":        []string{"serve", "/configs", "--cache-dir=/tmp/cache"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{baseID, cfgID}},
	})
	cd, err := push(ctx, dst, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: layers})
	return push(ctx, dst, ocispec.MediaTypeImageManifest, m)
}

// Bundle returns the FBC documents of one bundle: image is its bundle
// image, related its related images (the bundle image is listed too, as
// opm render does).
func Bundle(pkg, name, version, image string, related ...string) string {
	rel := []map[string]string{{"name": "", "image": image}}
	for i, r := range related {
		rel = append(rel, map[string]string{"name": fmt.Sprintf("img%d", i), "image": r})
	}
	b, _ := json.Marshal(map[string]any{
		"schema": "olm.bundle", "package": pkg, "name": name, "image": image,
		"properties":    []any{map[string]any{"type": "olm.package", "value": map[string]string{"packageName": pkg, "version": version}}},
		"relatedImages": rel,
	})
	return string(b)
}

// Package returns the olm.package and one olm.channel document whose
// entries replace each other in order (the last is the head).
func Package(pkg, channel string, entries ...string) string {
	var es []map[string]string
	for i, e := range entries {
		m := map[string]string{"name": e}
		if i > 0 {
			m["replaces"] = entries[i-1]
		}
		es = append(es, m)
	}
	p, _ := json.Marshal(map[string]any{"schema": "olm.package", "name": pkg, "defaultChannel": channel})
	c, _ := json.Marshal(map[string]any{"schema": "olm.channel", "package": pkg, "name": channel, "entries": es})
	return string(p) + "\n" + string(c)
}

func layer(files map[string][]byte) ([]byte, digest.Digest, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	slices.Sort(names)
	dirs := map[string]bool{}
	for _, p := range names {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
			}
		}
	}
	var all []string
	for d := range dirs {
		all = append(all, d+"/")
	}
	all = append(all, names...)
	slices.Sort(all)
	for _, p := range all {
		h := &tar.Header{Name: p, Mode: 0o644, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Size: int64(len(files[p]))}
		if strings.HasSuffix(p, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var gb bytes.Buffer
	gz := gzip.NewWriter(&gb)
	if _, err := gz.Write(tb.Bytes()); err != nil {
		return nil, "", err
	}
	if err := gz.Close(); err != nil {
		return nil, "", err
	}
	return gb.Bytes(), digest.FromBytes(tb.Bytes()), nil
}

func push(ctx context.Context, dst content.Pusher, mt string, b []byte) (ocispec.Descriptor, error) {
	d := content.NewDescriptorFromBytes(mt, b)
	if err := dst.Push(ctx, d, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return ocispec.Descriptor{}, err
	}
	return d, nil
}
