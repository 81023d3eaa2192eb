//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
)

// The big catalog of the bench (-big): an operator catalog image whose
// base layer is bigCatalogLayer bytes of incompressible data, as an index
// image's layers are hundreds of MB, with a small FBC of two packages.
// Packing it with one package selected builds the filtered catalog on top
// of that layer: the run shows that memory follows the filtered catalog's
// own blobs, not the catalog image.
const (
	bigCatalogLayer = 512 << 20
	bigCatalogRepo  = "bench-ops/big-catalog"
	bigCatalogTag   = "v1"
)

// bigCatalog is what seedBigCatalog pushed, remembered in the work
// directory.
type bigCatalog struct {
	Options string `json:"options"`
	// Layer is the big layer, DiffID the digest of its tar; Bundle the
	// bundle image without the registry host.
	Layer  ocispec.Descriptor `json:"layer"`
	DiffID digest.Digest      `json:"diffID"`
	Bundle string             `json:"bundle"`
	// Bytes are the unique bytes of the layer and the bundle image.
	Bytes int64         `json:"bytes"`
	Took  time.Duration `json:"took"`
}

// seedBigCatalog pushes the big catalog (or finds it) and writes
// {isc:operators-big}, which selects one of its two packages.
func (b *bench) seedBigCatalog(ctx context.Context) (string, error) {
	key := fmt.Sprintf("seed=%d layer=%d", b.cfg.seed, bigCatalogLayer)
	stateFile := filepath.Join(b.work, "big-catalog.json")
	var s bigCatalog
	if data, err := os.ReadFile(stateFile); err == nil && json.Unmarshal(data, &s) == nil && s.Options == key {
		b.logf("reusing the big catalog seeded in %s", b.work)
	} else {
		os.Remove(stateFile)
		start := time.Now()
		var err error
		if s, err = generateBigCatalog(ctx, b.src.Host, b.cfg.seed, b.work); err != nil {
			return "", fmt.Errorf("seed the big catalog: %w", err)
		}
		s.Options, s.Took = key, time.Since(start)
		data, err := json.Marshal(s)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(stateFile, data, 0o644); err != nil {
			return "", err
		}
	}
	// Its FBC names the bundle with the registry's address, which a rerun
	// gets anew: the catalog is pushed for this one (the layer is kept).
	n, err := pushBigCatalog(ctx, b.src.Host, s)
	if err != nil {
		return "", fmt.Errorf("push the big catalog: %w", err)
	}
	s.Bytes += n
	b.bigCatalog = &s
	b.isc["operators-big"] = filepath.Join(b.work, "isc-operators-big.yaml")
	if err := writeOperatorsISC(b.isc["operators-big"], b.src.Host+"/"+bigCatalogRepo+":"+bigCatalogTag, []string{"alpha"}, false); err != nil {
		return "", err
	}
	return fmt.Sprintf("big catalog: one %d MiB base layer, two packages, %s unique; seeding it took %s",
		bigCatalogLayer>>20, fmtBytes(s.Bytes), s.Took.Round(time.Second)), nil
}

// generateBigCatalog pushes the big layer and the bundle image of the big
// catalog to host (pushBigCatalog then pushes the catalog). The big layer
// is a gzip (stored, not compressed) tar of one file of seeded random
// bytes, written to a file in work first and streamed.
func generateBigCatalog(ctx context.Context, host string, seed uint64, work string) (bigCatalog, error) {
	var s bigCatalog
	r, err := remote.NewRepository(host + "/" + bigCatalogRepo)
	if err != nil {
		return s, err
	}
	r.PlainHTTP = true
	f, err := os.CreateTemp(work, "big-catalog-layer-*")
	if err != nil {
		return s, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	gzHash, tarHash := sha256.New(), sha256.New()
	gz, _ := gzip.NewWriterLevel(io.MultiWriter(f, gzHash), gzip.NoCompression)
	tw := tar.NewWriter(io.MultiWriter(gz, tarHash))
	var key [32]byte
	key[0] = byte(seed)
	if err := tw.WriteHeader(&tar.Header{Name: "usr/share/catalog-base", Mode: 0o644, Size: bigCatalogLayer, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return s, err
	}
	if _, err := io.Copy(tw, io.LimitReader(rand.NewChaCha8(key), bigCatalogLayer)); err != nil {
		return s, err
	}
	if err := tw.Close(); err != nil {
		return s, err
	}
	if err := gz.Close(); err != nil {
		return s, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return s, err
	}
	s.Layer = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.NewDigestFromBytes(digest.SHA256, gzHash.Sum(nil)), Size: size}
	s.DiffID = digest.NewDigestFromBytes(digest.SHA256, tarHash.Sum(nil))
	if err := r.Push(ctx, s.Layer, io.NewSectionReader(f, 0, size)); err != nil {
		return s, fmt.Errorf("big layer: %w", err)
	}
	br, err := remote.NewRepository(host + "/bench-ops/big-catalog-bundle")
	if err != nil {
		return s, err
	}
	br.PlainHTTP = true
	layer := archivetest.Blob(seed, opsLayerBytes, false)
	bd, err := archivetest.Image(ctx, br, "amd64", layer)
	if err != nil {
		return s, err
	}
	cfgSize, err := sharedConfigSize()
	if err != nil {
		return s, err
	}
	s.Bundle = "bench-ops/big-catalog-bundle@" + bd.Digest.String()
	s.Bytes = size + bd.Size + int64(len(layer)) + cfgSize
	return s, nil
}

// pushBigCatalog pushes the big catalog of s, whose bundle is on host, and
// tags it; it returns the bytes of its FBC layer, config and manifest.
func pushBigCatalog(ctx context.Context, host string, s bigCatalog) (int64, error) {
	r, err := remote.NewRepository(host + "/" + bigCatalogRepo)
	if err != nil {
		return 0, err
	}
	r.PlainHTTP = true
	var n int64
	push := func(mt string, b []byte) (ocispec.Descriptor, error) {
		d := content.NewDescriptorFromBytes(mt, b)
		n += d.Size
		return d, r.Push(ctx, d, bytes.NewReader(b))
	}
	bundle := host + "/" + s.Bundle
	fbc := catalogtest.Package("alpha", "stable", "alpha.v1") + "\n" + catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", bundle) + "\n" +
		catalogtest.Package("beta", "stable", "beta.v1") + "\n" + catalogtest.Bundle("beta", "beta.v1", "1.0.0", bundle) + "\n"
	fbcLayer, fbcID, err := tarGz(map[string][]byte{"configs/catalog.json": []byte(fbc)})
	if err != nil {
		return 0, err
	}
	fd, err := push(ocispec.MediaTypeImageLayerGzip, fbcLayer)
	if err != nil {
		return 0, err
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{
			"Labels":     map[string]string{catalogtest.ConfigsLabel: "/configs"},
			"Entrypoint": []string{"/bin/opm"},
			"Cmd":        []string{"serve", "/configs", "--cache-dir=/tmp/cache"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{s.DiffID, fbcID}},
	})
	cd, err := push(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return 0, err
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{s.Layer, fd}})
	md, err := push(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return 0, err
	}
	return n, r.Tag(ctx, md, bigCatalogTag)
}

// tarGz returns files (with their directories) as a gzip tar layer and the
// digest of the tar (its diff id). Same files, same bytes.
func tarGz(files map[string][]byte) ([]byte, digest.Digest, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	names := slices.Sorted(maps.Keys(files))
	dirs := map[string]bool{}
	for _, n := range names {
		for d := path.Dir(n); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
				return nil, "", err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(files[n]); err != nil {
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
