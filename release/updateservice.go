package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/enclave-mirror/enclave/ocigraph"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"
)

// Update Service defaults, as oc-mirror v2 writes them.
const (
	UpdateServiceAPIVersion = "updateservice.operator.openshift.io/v1"
	UpdateServiceName       = "update-service-oc-mirror"
	UpdateServiceNamespace  = "openshift-update-service"
	// GraphDataDir is where the graph-data image holds the graph data; its
	// command copies it to the directory the Update Service reads.
	GraphDataDir = "var/lib/cincinnati-graph-data"
	// GraphDataURL serves the graph-data tarball (tar.gz) for OCP.
	GraphDataURL = "https://api.openshift.com/api/upgrades_info/graph-data"
)

// GraphDataCmd is the graph-data image's command, the one documented for
// the Update Service's graph-data init container. It needs a base image with
// bash and cp (see GraphDataImageOptions.Base).
var GraphDataCmd = []string{"/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"}

// UpdateServiceOptions describe an UpdateService resource.
type UpdateServiceOptions struct {
	// Name defaults to UpdateServiceName, Namespace to UpdateServiceNamespace.
	Name, Namespace string
	// Replicas defaults to 2.
	Replicas int
	// GraphDataImage is the graph-data image in the mirror, by tag or digest,
	// e.g. registry:5000/openshift/graph-image:latest.
	GraphDataImage string
	// Releases is the payload repository in the mirror, without tag:
	// Join(dest, ReleaseImagesRepo).
	Releases string
}

// UpdateServiceYAML renders an UpdateService for the OpenShift Update
// Service operator.
func UpdateServiceYAML(o UpdateServiceOptions) ([]byte, error) {
	if o.Name == "" {
		o.Name = UpdateServiceName
	}
	if o.Namespace == "" {
		o.Namespace = UpdateServiceNamespace
	}
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if !dnsLabelRE.MatchString(o.Name) || !dnsLabelRE.MatchString(o.Namespace) {
		return nil, fmt.Errorf("%w: UpdateService name %q / namespace %q", ErrInvalidArgument, o.Name, o.Namespace)
	}
	if o.Replicas < 1 || o.Replicas > 100 {
		return nil, fmt.Errorf("%w: replicas %d", ErrInvalidArgument, o.Replicas)
	}
	for _, s := range []struct{ n, v string }{{"graphDataImage", o.GraphDataImage}, {"releases", o.Releases}} {
		if s.v == "" || strings.ContainsAny(s.v, " \t\r\n\"'#") {
			return nil, fmt.Errorf("%w: UpdateService %s %q", ErrInvalidArgument, s.n, s.v)
		}
	}
	if strings.Contains(o.Releases, "@") || strings.Contains(o.Releases[strings.LastIndex(o.Releases, "/")+1:], ":") {
		return nil, fmt.Errorf("%w: UpdateService releases %q must be a repository, without tag or digest", ErrInvalidArgument, o.Releases)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: %s\nkind: UpdateService\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n", UpdateServiceAPIVersion, o.Name, o.Namespace)
	fmt.Fprintf(&b, "  graphDataImage: %s\n  releases: %s\n  replicas: %d\n", q(o.GraphDataImage), q(o.Releases), o.Replicas)
	return []byte(b.String()), nil
}

// Blob is a blob with its descriptor.
type Blob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// Image is a small image held in memory: Blobs in push order (config and
// layers first, the manifest last, Manifest being the last one's descriptor).
type Image struct {
	Manifest ocispec.Descriptor
	Blobs    []Blob
}

// Push pushes the image's blobs that dst lacks, then the manifest, then tags
// it with each of tags.
func (img *Image) Push(ctx context.Context, dst oras.Target, tags ...string) error {
	for _, b := range img.Blobs {
		ok, err := dst.Exists(ctx, b.Descriptor)
		if err != nil {
			return fmt.Errorf("release: push %s: %w", b.Descriptor.Digest, err)
		}
		if ok {
			continue
		}
		if err := dst.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			return fmt.Errorf("release: push %s: %w", b.Descriptor.Digest, err)
		}
	}
	for _, t := range tags {
		if err := dst.Tag(ctx, img.Manifest, t); err != nil {
			return fmt.Errorf("release: tag %s: %w", t, err)
		}
	}
	return nil
}

// BaseImage is an image to build the graph-data image on (one with bash and
// cp, e.g. ubi9). Its layers must already be in the destination repository
// (copy the base image there first); only its config is needed here.
type BaseImage struct {
	Config ocispec.Image
	Layers []ocispec.Descriptor
}

// GraphDataImageOptions tune BuildGraphDataImage.
type GraphDataImageOptions struct {
	// Base, when set, is the image the graph-data layer goes on top of.
	// Without it the image holds only the data, with no shell: fine to carry
	// the data and for tools that extract it, not runnable as the Update
	// Service's init container.
	Base *BaseImage
	// MaxBytes caps the decompressed tarball (DefaultMaxGraphDataBytes).
	MaxBytes int64
}

// BuildGraphDataImage turns the graph-data tarball (tar.gz, as served at
// GraphDataURL) into an image whose one added layer holds its files under
// /var/lib/cincinnati-graph-data, with GraphDataCmd as command. The result is
// deterministic for the same input: owners, modes and times of the tarball are
// normalized. Only directories and regular files are accepted; absolute
// names, ".." and duplicates are rejected.
func BuildGraphDataImage(tarball io.Reader, o GraphDataImageOptions) (*Image, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxGraphDataBytes
	}
	zr, err := gzip.NewReader(tarball)
	if err != nil {
		return nil, fmt.Errorf("release: graph data: %w", err)
	}
	defer zr.Close()
	budget := o.MaxBytes
	tr := tar.NewReader(&budgetReader{r: zr, left: &budget})

	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	dirs := map[string]bool{}
	seen := map[string]bool{}
	addDir := func(name string) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Format: tar.FormatPAX})
	}
	// parents creates every directory above name, outermost first.
	parents := func(name string) error {
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			if err := addDir(strings.Join(parts[:i], "/")); err != nil {
				return err
			}
		}
		return nil
	}
	if err := parents(GraphDataDir + "/x"); err != nil {
		return nil, err
	}
	entries := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("release: graph data: %w", err)
		}
		if entries++; entries > MaxGraphDataEntries {
			return nil, fmt.Errorf("%w: graph data has over %d entries", ErrTooLarge, MaxGraphDataEntries)
		}
		rel, err := cleanRelative(h.Name)
		if err != nil {
			return nil, fmt.Errorf("release: graph data: %w", err)
		}
		if rel == "" { // "./"
			continue
		}
		name := GraphDataDir + "/" + rel
		switch h.Typeflag {
		case tar.TypeDir:
			if err := parents(name); err != nil {
				return nil, err
			}
			if seen[name] {
				return nil, fmt.Errorf("%w: graph data: %q appears twice", ErrInvalidArgument, h.Name)
			}
			seen[name] = true
			if err := addDir(name); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if seen[name] || dirs[name] {
				return nil, fmt.Errorf("%w: graph data: %q appears twice", ErrInvalidArgument, h.Name)
			}
			seen[name] = true
			if err := parents(name); err != nil {
				return nil, err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: h.Size, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
			if _, err := io.CopyN(tw, tr, h.Size); err != nil {
				return nil, fmt.Errorf("release: graph data: %s: %w", h.Name, err)
			}
		default:
			return nil, fmt.Errorf("%w: graph data: %q has type %q; only files and directories are accepted", ErrInvalidArgument, h.Name, h.Typeflag)
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%w: graph data tarball is empty", ErrInvalidArgument)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	diffID := digest.FromBytes(tarBuf.Bytes())
	var gzBuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gzBuf, gzip.BestCompression)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	layer := gzBuf.Bytes()
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	return assembleGraphDataImage(layerDesc, layer, diffID, o.Base)
}

// assembleGraphDataImage puts the graph-data layer on base (an empty
// linux/amd64 image when nil) with ocigraph.Assemble, as the operator
// catalog rebuild does, and returns the new config, layer and manifest. The
// base's layers are taken to be at the destination already.
func assembleGraphDataImage(layerDesc ocispec.Descriptor, layer []byte, diffID digest.Digest, base *BaseImage) (*Image, error) {
	ctx := context.Background() // everything is in memory
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers"}}
	var layers []ocispec.Descriptor
	if base != nil {
		if len(base.Config.RootFS.DiffIDs) != len(base.Layers) {
			return nil, fmt.Errorf("%w: base image has %d layers and %d diff_ids", ErrInvalidArgument, len(base.Layers), len(base.Config.RootFS.DiffIDs))
		}
		cfg, layers = base.Config, base.Layers
	}
	src := memory.New()
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfgData)
	mData, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers})
	if err != nil {
		return nil, err
	}
	baseDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mData)
	for _, b := range []struct {
		d    ocispec.Descriptor
		data []byte
	}{{cfgDesc, cfgData}, {baseDesc, mData}} {
		if err := src.Push(ctx, b.d, bytes.NewReader(b.data)); err != nil {
			return nil, err
		}
	}
	dst := &collector{present: map[digest.Digest]bool{}, blobs: map[digest.Digest]Blob{}}
	for _, l := range layers {
		dst.present[l.Digest] = true
	}
	top, err := ocigraph.Assemble(ctx, src, baseDesc, dst, ocigraph.Change{
		Layers: []ocigraph.Layer{{Descriptor: layerDesc, DiffID: diffID,
			Open:    func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil },
			History: ocispec.History{CreatedBy: "enclave: cincinnati graph data", Comment: "graph data"}}},
		Config: func(c *ocispec.ImageConfig) error {
			c.Cmd, c.Entrypoint = GraphDataCmd, nil
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("release: graph data image: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(dst.blobs[top.Digest].Data, &m); err != nil {
		return nil, fmt.Errorf("release: graph data image: %w", err)
	}
	return &Image{Manifest: top, Blobs: []Blob{dst.blobs[m.Config.Digest], dst.blobs[layerDesc.Digest], dst.blobs[top.Digest]}}, nil
}

// collector is the in-memory destination of assembleGraphDataImage: it
// keeps what is pushed and reports the base's layers as present.
type collector struct {
	present map[digest.Digest]bool
	blobs   map[digest.Digest]Blob
}

func (c *collector) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	_, ok := c.blobs[d.Digest]
	return ok || c.present[d.Digest], nil
}

func (c *collector) Push(_ context.Context, d ocispec.Descriptor, r io.Reader) error {
	b, err := content.ReadAll(r, d)
	if err != nil {
		return err
	}
	c.blobs[d.Digest] = Blob{Descriptor: d, Data: b}
	return nil
}

func (c *collector) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := c.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b.Data)), nil
}

// cleanRelative returns a tar entry name relative to the archive root, or
// an error for absolute names and names that climb out with "..".
func cleanRelative(n string) (string, error) {
	if strings.HasPrefix(n, "/") || strings.Contains(n, "\\") || strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("%w: entry name %q", ErrInvalidArgument, n)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry name %q climbs out of the archive", ErrInvalidArgument, n)
		}
	}
	c := path.Clean(n)
	if c == "." {
		return "", nil
	}
	return c, nil
}
