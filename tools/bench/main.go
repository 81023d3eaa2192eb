//go:build linux

// Command bench is `make bench`: it measures enclave-pack and enclave-unpack
// against the physical limits of the machine, in the same run.
//
//	go run ./tools/bench [-scale 1] [-big] [-workdir DIR] [-keep] [-markdown FILE] ...
//
// It builds cmd/regserver and the tools, starts registries as child
// processes on loopback (filesystem storage in the work directory), seeds
// the source registry with releases 1 and 2 of the corpus
// (internal/testing/corpus), measures the limits (parallel GET and PUT of every
// unique blob of release 1, sequential disk write with fsync), runs the
// table of tool runs in runs.go, and prints one table.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/internal/testing/corpus"
)

type config struct {
	seed      uint64
	scale     float64
	images    int
	big       bool
	bigSize   int64
	workdir   string
	keep      bool
	profile   string
	markdown  string
	workers   int
	diskBytes int64
	tools     string
	runs      string
	// operatorImages is the related images of the operator catalog runs.
	operatorImages int
}

func main() {
	var c config
	flag.Uint64Var(&c.seed, "seed", 1, "corpus seed")
	flag.Float64Var(&c.scale, "scale", 1, "corpus scale: layer sizes are multiplied by it (1: about 1.5 GB per release)")
	flag.IntVar(&c.images, "images", corpus.DefaultImages, "images in release 1")
	flag.BoolVar(&c.big, "big", false, "add the image with a 2 GiB layer and the catalog image with a 512 MiB layer, and the runs that pack them")
	flag.Int64Var(&c.bigSize, "big-size", corpus.DefaultBigLayerSize, "tar size of the big layer, bytes")
	flag.StringVar(&c.workdir, "workdir", "", "work `DIR` (default a temporary directory, removed unless -keep); an existing one with the same corpus is reused without seeding")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary work directory")
	flag.StringVar(&c.profile, "profile", "", "`DIR` for pprof files of the runs (passed as ENCLAVE_CPUPROFILE/ENCLAVE_MEMPROFILE and {profile})")
	flag.StringVar(&c.markdown, "markdown", "", "also write the results as Markdown to `FILE`")
	flag.IntVar(&c.workers, "workers", 8, "parallel requests of the GET and PUT limits")
	flag.Int64Var(&c.diskBytes, "disk-bytes", 1<<30, "bytes written by the disk limit")
	flag.StringVar(&c.tools, "tools", "", "`DIR` with prebuilt enclave-pack and enclave-unpack (default: build ./tools/...)")
	flag.StringVar(&c.runs, "runs", "", "only the runs whose name matches `REGEXP`")
	flag.IntVar(&c.operatorImages, "operator-images", 1000, "related images of the operator catalog runs (BENCHMARKS.md has 5000; 0 skips those runs)")
	flag.Parse()
	if c.profile != "" {
		// The tools write their profiles into it; they do not create it.
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -profile:", err)
			os.Exit(2)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is the state of one benchmark run.
type bench struct {
	// runRegs are the registries the arguments of the run being started
	// name.
	runRegs []string
	cfg     config
	work    string
	toolDir string
	src     *registryProc
	regs    *registries
	v1, v2  *corpus.Manifest
	blobs   map[digest.Digest]corpus.Blob
	sets    map[string][]corpus.Image // v1, v2, big
	isc     map[string]string         // set -> file
	limits  map[string]float64        // bytes/s
	ops     *opsContent               // the operator catalog, when seeded
	// bigCatalog is the catalog image with a big layer, when seeded.
	bigCatalog *bigCatalog
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, c config) (err error) {
	runFilter, err := regexp.Compile(c.runs)
	if err != nil {
		return fmt.Errorf("-runs: %w", err)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	b := &bench{cfg: c, work: c.workdir, limits: map[string]float64{}, isc: map[string]string{}}
	if b.work == "" {
		if b.work, err = os.MkdirTemp("", "enclave-bench-"); err != nil {
			return err
		}
		if !c.keep {
			defer os.RemoveAll(b.work)
		} else {
			defer b.logf("kept %s", b.work)
		}
	}
	if b.work, err = filepath.Abs(b.work); err != nil {
		return err
	}
	for _, d := range []string{"bin", "logs", "registries"} {
		if err := os.MkdirAll(filepath.Join(b.work, d), 0o755); err != nil {
			return err
		}
	}
	// A reused work directory keeps its seeded source registry; everything
	// the runs make starts anew (registries other than the source are
	// "started empty", the receipt names their ports).
	if err := resetRuns(b.work); err != nil {
		return err
	}
	m := describeMachine(b.work)

	// Binaries.
	regBin := filepath.Join(b.work, "bin", "regserver")
	if err := build(ctx, root, "./tools/regserver", regBin); err != nil {
		return err
	}
	b.toolDir = c.tools
	if b.toolDir == "" {
		b.toolDir = filepath.Join(b.work, "bin")
		for _, t := range []string{"enclave-pack", "enclave-unpack"} {
			if gos, _ := filepath.Glob(filepath.Join(root, "tools", t, "*.go")); len(gos) == 0 {
				b.logf("no ./tools/%s yet: its runs are skipped", t)
				continue
			}
			if err := build(ctx, root, "./tools/"+t, filepath.Join(b.toolDir, t)); err != nil {
				return err
			}
		}
	}

	// Registries and the corpus.
	b.regs = &registries{bin: regBin, dir: filepath.Join(b.work, "registries"), procs: map[string]*registryProc{}}
	defer b.regs.closeAll()
	if b.src, err = b.regs.get("source"); err != nil {
		return err
	}
	corpusLines, err := b.seed(ctx)
	if err != nil {
		return err
	}
	if c.operatorImages > 0 && selected(runFilter.MatchString, func(rs runSpec) bool { return rs.Operators }) {
		line, err := b.seedOperators(ctx)
		if err != nil {
			return err
		}
		corpusLines = append(corpusLines, line)
	}
	if c.big && selected(runFilter.MatchString, func(rs runSpec) bool { return rs.BigCatalog }) {
		line, err := b.seedBigCatalog(ctx)
		if err != nil {
			return err
		}
		corpusLines = append(corpusLines, line)
	}
	for set, images := range b.sets {
		if len(images) == 0 {
			continue
		}
		b.isc[set] = filepath.Join(b.work, "isc-"+set+".yaml")
		if err := writeISC(b.isc[set], b.src.Host, images); err != nil {
			return err
		}
	}

	// Limits, then runs.
	rows, err := b.measureLimits(ctx)
	if err != nil {
		return err
	}
	for _, rs := range runs {
		if !runFilter.MatchString(rs.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r := b.execute(ctx, rs)
		if rs.CompareTo != "" {
			r.compareWith(rs.CompareTo, rows)
		}
		rows = append(rows, r)
	}

	if err := writeTable(os.Stdout, m, corpusLines, rows); err != nil {
		return err
	}
	if c.markdown != "" {
		f, err := os.Create(c.markdown)
		if err != nil {
			return err
		}
		if err := writeMarkdown(f, m, corpusLines, rows); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// resetRuns removes what earlier runs left in work: registries but the
// source, the receipt, cluster resources, archives and profiles.
func resetRuns(work string) error {
	regs, err := os.ReadDir(filepath.Join(work, "registries"))
	if err != nil {
		return err
	}
	for _, e := range regs {
		if e.Name() != "source" {
			if err := os.RemoveAll(filepath.Join(work, "registries", e.Name())); err != nil {
				return err
			}
		}
	}
	var old []string
	for _, pattern := range []string{"archive-*", "receipt*.json", "cluster-resources*"} {
		m, err := filepath.Glob(filepath.Join(work, pattern))
		if err != nil {
			return err
		}
		old = append(old, m...)
	}
	for _, p := range old {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// seeded is what the work directory remembers of the corpus in its source
// registry, so that a rerun with the same options skips seeding.
type seeded struct {
	Options string           `json:"options"`
	V1      *corpus.Manifest `json:"v1"`
	V2      *corpus.Manifest `json:"v2"`
	Took    time.Duration    `json:"took"`
}

// seed pushes releases 1 and 2 into the source registry (or finds them
// there) and returns a description of the corpus.
func (b *bench) seed(ctx context.Context) ([]string, error) {
	c := b.cfg
	key := fmt.Sprintf("seed=%d scale=%g images=%d big=%v bigsize=%d", c.seed, c.scale, c.images, c.big, c.bigSize)
	stateFile := filepath.Join(b.work, "corpus.json")
	var s seeded
	if data, err := os.ReadFile(stateFile); err == nil && json.Unmarshal(data, &s) == nil && s.Options == key && s.V1 != nil && s.V2 != nil {
		b.logf("reusing the corpus seeded in %s", b.work)
	} else {
		os.Remove(stateFile)
		target := func(repo string) (oras.Target, error) {
			r, err := remote.NewRepository(b.src.Host + "/" + repo)
			if err != nil {
				return nil, err
			}
			r.PlainHTTP = true
			return r, nil
		}
		o := corpus.Options{Seed: c.seed, Scale: c.scale, Images: c.images, BigLayer: c.big, BigLayerSize: c.bigSize, Cache: &corpus.Cache{}, Logf: b.logf}
		start := time.Now()
		for rel, m := range []**corpus.Manifest{&s.V1, &s.V2} {
			o.Release = rel + 1
			var err error
			if *m, err = corpus.Generate(ctx, target, o); err != nil {
				return nil, err
			}
		}
		s.Options, s.Took = key, time.Since(start)
		data, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(stateFile, data, 0o644); err != nil {
			return nil, err
		}
	}
	b.v1, b.v2 = s.V1, s.V2
	b.blobs = map[digest.Digest]corpus.Blob{}
	for _, m := range []*corpus.Manifest{b.v1, b.v2} {
		for _, bl := range m.Blobs {
			b.blobs[bl.Digest] = bl
		}
	}
	b.sets = map[string][]corpus.Image{}
	for _, im := range b.v1.Images {
		if im.BigLayer {
			b.sets["big"] = append(b.sets["big"], im)
		} else {
			b.sets["v1"] = append(b.sets["v1"], im)
		}
	}
	for _, im := range b.v2.Images {
		if !im.BigLayer {
			b.sets["v2"] = append(b.sets["v2"], im)
		}
	}
	lines := []string{
		fmt.Sprintf("corpus: seed %d, scale %g; release 1: %d images, %d blobs, %s unique; release 2: %d images, %s unique, %s new",
			c.seed, c.scale, len(b.sets["v1"]), len(b.setBlobs("v1")), fmtBytes(b.uniqueBytes("v1")),
			len(b.sets["v2"]), fmtBytes(b.uniqueBytes("v2")), fmtBytes(b.newBytes("v2", "v1"))),
	}
	if c.big {
		lines = append(lines, fmt.Sprintf("big image: %s unique", fmtBytes(b.uniqueBytes("big"))))
	}
	lines = append(lines, fmt.Sprintf("seeding the source registry took %s", s.Took.Round(time.Second)))
	return lines, nil
}

// setBlobs is the distinct blobs of the images of set.
func (b *bench) setBlobs(set string) []corpus.Blob {
	seen := map[digest.Digest]bool{}
	var out []corpus.Blob
	for _, im := range b.sets[set] {
		for _, d := range im.Blobs {
			if !seen[d] {
				seen[d] = true
				out = append(out, b.blobs[d])
			}
		}
	}
	return out
}

func (b *bench) uniqueBytes(set string) int64 {
	var n int64
	for _, bl := range b.setBlobs(set) {
		n += bl.Size
	}
	return n
}

// newBytes is the size of the blobs of set that base does not have.
func (b *bench) newBytes(set, base string) int64 {
	old := b.setBlobs(base)
	var n int64
	for _, bl := range b.setBlobs(set) {
		if !slices.ContainsFunc(old, func(o corpus.Blob) bool { return o.Digest == bl.Digest }) {
			n += bl.Size
		}
	}
	return n
}

// measureLimits measures the physical limits the runs are compared with.
// They move the layers and configs (all but a few KB of the bytes);
// manifests travel through other endpoints and need their blobs first.
func (b *bench) measureLimits(ctx context.Context) ([]row, error) {
	var blobs []corpus.Blob
	for _, bl := range b.setBlobs("v1") {
		switch bl.MediaType {
		case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex:
		default:
			blobs = append(blobs, bl)
		}
	}
	w := b.cfg.workers
	var rows []row
	add := func(name, key string, m measurement, err error) error {
		if err != nil {
			return fmt.Errorf("limit %s: %w", name, err)
		}
		b.limits[key] = m.rate()
		rows = append(rows, row{name: name, bytes: m.bytes, wall: m.wall, isLimit: true, measured: true})
		b.logf("%s: %.0f MB/s", name, m.rate()/1e6)
		return nil
	}
	// Once to warm the page cache (seeding wrote through it, but a reused
	// work directory may be cold), then measured.
	if _, err := measureGET(ctx, b.src.Host, blobs, w, false); err != nil {
		return nil, fmt.Errorf("limit GET: %w", err)
	}
	m, err := measureGET(ctx, b.src.Host, blobs, w, false)
	if err := add(fmt.Sprintf("limit: registry GET, %d streams", w), "GET", m, err); err != nil {
		return nil, err
	}
	m, err = measureGET(ctx, b.src.Host, blobs, w, true)
	if err := add(fmt.Sprintf("limit: registry GET + sha256, %d streams", w), "GET+sha256", m, err); err != nil {
		return nil, err
	}
	// put measures a PUT limit into a fresh registry, with the registry's
	// CPU time.
	put := func(name, key, sinkName string, blobs []corpus.Blob, workers int, hash bool) error {
		sink, err := b.regs.get(sinkName)
		if err != nil {
			return err
		}
		cpu := b.regs.cpu(sinkName)
		m, err := measurePUT(ctx, sink.Host, b.src.Root, blobs, workers, hash)
		cpu = b.regs.cpu(sinkName) - cpu
		b.regs.drop(sinkName)
		if err := add(name, key, m, err); err != nil {
			return err
		}
		rows[len(rows)-1].registryCPU = cpu
		return nil
	}
	if err := put(fmt.Sprintf("limit: registry PUT, %d streams", w), "PUT", "put-sink", blobs, w, false); err != nil {
		return nil, err
	}
	// The same with the client hashing what it sends: on a machine whose
	// cores the registry shares, the CPU a verifying tool cannot avoid.
	if err := put(fmt.Sprintf("limit: registry PUT + sha256, %d streams", w), "PUT+sha256", "put-sink-sha256", blobs, w, true); err != nil {
		return nil, err
	}
	if b.cfg.big {
		// The 2 GiB layer is one stream: its push is compared with one
		// monolithic PUT of it, which one core of the registry serves.
		big := largestFirst(b.setBlobs("big"))[:1]
		if err := put("limit: registry PUT, 1 stream, the big layer", "PUT 1 stream", "put-sink-big", big, 1, false); err != nil {
			return nil, err
		}
	}
	m, err = measureDisk(ctx, b.work, b.cfg.diskBytes)
	if err := add("limit: disk write + fsync", "disk write", m, err); err != nil {
		return nil, err
	}
	if len(blobs) == 0 {
		return nil, errors.New("the corpus has no blobs")
	}
	return rows, nil
}
