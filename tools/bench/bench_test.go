//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/corpus"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// newTestBench seeds an in-process registry with a tiny corpus and returns a
// bench over it, with no child processes.
func newTestBench(t *testing.T) *bench {
	t.Helper()
	root := t.TempDir()
	reg := regserver.New(t, regserver.Options{RootDir: filepath.Join(root, "source")})
	target := func(repo string) (oras.Target, error) {
		r, err := remote.NewRepository(reg.Host + "/" + repo)
		if err != nil {
			return nil, err
		}
		r.PlainHTTP = true
		return r, nil
	}
	m, err := corpus.Generate(context.Background(), target, corpus.Options{Seed: 3, Scale: 0.0005, Images: 8, Release: 1})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	os.MkdirAll(filepath.Join(work, "logs"), 0o755)
	b := &bench{
		work: work, toolDir: t.TempDir(), v1: m, v2: m,
		src:    &registryProc{Host: reg.Host, Root: filepath.Join(root, "source")},
		limits: map[string]float64{"GET": 100e6, "disk write": 50e6, "PUT": 80e6},
		isc:    map[string]string{"v1": filepath.Join(work, "isc-v1.yaml")},
		sets:   map[string][]corpus.Image{"v1": m.Images},
		blobs:  map[digest.Digest]corpus.Blob{},
	}
	for _, bl := range m.Blobs {
		b.blobs[bl.Digest] = bl
	}
	if err := writeISC(b.isc["v1"], reg.Host, m.Images); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLimits(t *testing.T) {
	b := newTestBench(t)
	ctx := context.Background()
	var blobs []corpus.Blob
	for _, bl := range b.setBlobs("v1") {
		if !strings.Contains(bl.MediaType, "manifest") && !strings.Contains(bl.MediaType, "index") {
			blobs = append(blobs, bl)
		}
	}
	var want int64
	for _, bl := range blobs {
		want += bl.Size
	}
	for _, hash := range []bool{false, true} {
		m, err := measureGET(ctx, b.src.Host, blobs, 4, hash)
		if err != nil || m.bytes != want {
			t.Fatalf("GET (hash %v): %d bytes, %v; want %d", hash, m.bytes, err, want)
		}
	}
	sink := regserver.New(t, regserver.Options{})
	m, err := measurePUT(ctx, sink.Host, b.src.Root, blobs, 4, true)
	if err != nil || m.bytes != want {
		t.Fatalf("PUT: %d bytes, %v; want %d", m.bytes, err, want)
	}
	// Every blob arrived with its digest (the registry checks it on PUT).
	for _, bl := range blobs[:3] {
		r, _ := remote.NewRepository(sink.Host + "/" + bl.Repository)
		r.PlainHTTP = true
		if _, err := r.Blobs().Resolve(ctx, bl.Digest.String()); err != nil {
			t.Errorf("sink lacks %s: %v", bl.Digest, err)
		}
	}
	d, err := measureDisk(ctx, b.work, 1<<20)
	if err != nil || d.bytes != 1<<20 {
		t.Fatalf("disk: %d bytes, %v", d.bytes, err)
	}
}

// TestExecute runs a stand-in for enclave-pack through the run machinery.
func TestExecute(t *testing.T) {
	b := newTestBench(t)
	script := "#!/bin/sh\nfor a; do last=$a; done\nd=${last#file://}\nmkdir -p \"$d\" && head -c 123456 /dev/zero > \"$d/vol-0\"\n"
	if err := os.WriteFile(filepath.Join(b.toolDir, "enclave-pack"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	rs := runSpec{
		Name: "full pack", Tool: "enclave-pack",
		Args:    "--src-tls-verify=false -c {isc:v1} file://{work}/archive-v1",
		Archive: "{work}/archive-v1", Bytes: bytesOf("v1"), Limit: limitPack,
	}
	r := b.execute(context.Background(), rs)
	if !r.measured || r.note != "" {
		t.Fatalf("run not measured: %+v", r)
	}
	if r.archive != 123456 || r.bytes != b.v1.UniqueBytes() || r.limit != 50e6 || r.limitOf != "disk write" || r.maxRSS <= 0 {
		t.Errorf("row %+v", r)
	}
	log, _ := os.ReadFile(filepath.Join(b.work, "logs", "full-pack.log"))
	if !strings.Contains(string(log), "-c "+b.isc["v1"]+" file://"+b.work+"/archive-v1") {
		t.Errorf("command line not expanded: %s", log)
	}
	isc, _ := os.ReadFile(b.isc["v1"])
	if !strings.Contains(string(isc), "- name: "+b.src.Host+"/ocp/component-00:v1") {
		t.Errorf("isc.yaml:\n%s", isc)
	}

	rs.Tool = "enclave-missing"
	if r := b.execute(context.Background(), rs); r.measured || !strings.HasPrefix(r.note, "skipped") {
		t.Errorf("missing tool: %+v", r)
	}
	rs.Tool, rs.Args = "enclave-pack", "{nope}"
	if r := b.execute(context.Background(), rs); r.measured || !strings.Contains(r.note, "unknown placeholder") {
		t.Errorf("bad placeholder: %+v", r)
	}

	var out bytes.Buffer
	if err := writeTable(&out, describeMachine(b.work), []string{"corpus: test"}, []row{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "peak RSS") || !strings.Contains(out.String(), "full pack") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestPeakRSS checks the sampling that replaces Rusage.Maxrss (which
// reports the parent's RSS for a child started by vfork).
func TestPeakRSS(t *testing.T) {
	if n := vmHWM("/proc/self/status"); n <= 0 {
		t.Fatalf("VmHWM of this process: %d", n)
	}
	if n := vmHWM("/proc/nonexistent/status"); n != 0 {
		t.Errorf("VmHWM of no process: %d", n)
	}
	p := watchPeakRSS(os.Getpid())
	time.Sleep(3 * rssInterval)
	p.stop()
	if n := p.bytes(); n <= 0 {
		t.Errorf("sampled VmHWM %d", n)
	}
	var none *peakRSS
	none.stop()
	if none.bytes() != 0 {
		t.Error("nil peakRSS")
	}
}

// TestOperatorCatalog checks the generated operator catalog: its
// configuration selects every bundle and related image (the count the
// per-image figures divide by), each an image in the registry.
func TestOperatorCatalog(t *testing.T) {
	b := newTestBench(t)
	b.cfg.operatorImages, b.cfg.seed = 250, 1
	ctx := context.Background()
	line, err := b.seedOperators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "2 packages, 4 bundles, 250 related images (254 images to carry") {
		t.Errorf("description: %s", line)
	}
	f, err := os.Open(b.isc["operators"])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := imageset.Load(f, "isc-operators.yaml")
	if err != nil {
		t.Fatal(err)
	}
	op := cfg.Mirror.Operators[0]
	ref, err := imageset.ParseReference(op.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	cr, _ := remote.NewRepository(ref.Name())
	cr.PlainHTTP = true
	desc, err := cr.Resolve(ctx, ref.Tag)
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(ctx, cr, desc)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := catalog.Filter(c, op)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, im := range b.ops.Images {
		want = append(want, b.src.Host+"/"+im)
	}
	slices.Sort(want)
	got := sel.Images()
	slices.Sort(got)
	if sel.Unfiltered || !slices.Equal(got, want) {
		t.Fatalf("selection (unfiltered %v): %d images, want the %d seeded", sel.Unfiltered, len(got), len(want))
	}
	for _, im := range []string{want[0], want[len(want)-1]} {
		r, _ := imageset.ParseReference(im)
		repo, _ := remote.NewRepository(r.Name())
		repo.PlainHTTP = true
		if _, err := repo.Resolve(ctx, r.Digest.String()); err != nil {
			t.Errorf("%s: %v", im, err)
		}
	}
	// Same seed, same content: the state file is reused, and a fresh
	// generation gives the same digests.
	again, err := generateOperators(ctx, b.src.Host, 1, 250, t.Logf)
	if err != nil || !slices.Equal(again.Images, b.ops.Images) {
		t.Errorf("not reproducible: %v", err)
	}
}

// procCPU reads a process's CPU time from /proc: this one's grows as it
// works (a parse that reads the wrong fields stays at 0 or goes back).
func TestProcCPU(t *testing.T) {
	first := procCPU(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for procCPU(os.Getpid()) <= first {
		if time.Now().After(deadline) {
			t.Fatalf("procCPU stayed at %v while this process worked", first)
		}
		for i := range 1_000_000 {
			x += i
		}
	}
	if procCPU(-1) != 0 {
		t.Fatal("no process: want 0")
	}
	_ = x
}
