//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
)

// ---------------------------------------------------------------------------
// THE RUNS. One row of the table per run: a command line of one of our tools
// (bin/<Tool>, built from ./tools/<Tool>), timed as a child process. They
// follow the workflow of the README: pack release 1, unpack it (which writes
// the receipt), pack release 2 against that receipt, unpack the delta into
// the same mirror with the same receipt.
//
// Args are split on white space, then each word's placeholders are expanded:
//
//	{src}        the source registry, HOST:PORT; it holds v1 and v2 (and the
//	             big image, with -big) of the corpus under ocp/...
//	{reg:NAME}   a registry called NAME, started empty at its first use and
//	             kept for the later runs (the mirror that "full unpack"
//	             fills is the one "delta unpack" updates)
//	{isc:SET}    an ImageSetConfiguration listing the images of SET on {src}:
//	             v1 (release 1), v2 (release 2), big (the 2 GiB layer image)
//	{work}       the work directory
//	{profile}    -profile DIR/<run> (a path prefix for pprof files), or empty
//
// Every registry is plain HTTP on loopback: --src-tls-verify=false and
// --dest-tls-verify=false allow that. enclave-unpack pushes SRC-HOST/REPO:TAG
// to docker://HOST/PREFIX as HOST/PREFIX/REPO:TAG (the source host dropped),
// which is what mirrored checks. Its receipt and cluster resources go to the
// work directory, not the current one.
//
// Before a run, Archive (expanded) is deleted if it exists, and measured
// after it. Every run also gets ENCLAVE_CPUPROFILE and ENCLAVE_MEMPROFILE in
// its environment with -profile: tools/internal/cli honours them.
// ---------------------------------------------------------------------------
var runs = []runSpec{
	{
		Name: "full pack", Tool: "enclave-pack",
		Args:    "--src-tls-verify=false -c {isc:v1} file://{work}/archive-v1",
		Archive: "{work}/archive-v1", Bytes: bytesOf("v1"), Limit: limitPack,
	},
	{
		// The default single pass: the archive read once, each blob
		// checked on its way to the registry.
		Name: "full unpack", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false " + unpackFiles + " --from file://{work}/archive-v1 docker://{reg:mirror}/mirror",
		Bytes: bytesOf("v1"), Limit: limitUnpack, Check: mirrored("mirror", "mirror", "v1"),
		Reads: "{work}/archive-v1",
	},
	{
		// The same archive into the same registry: nothing to transfer.
		Name: "unpack again", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false " + unpackFiles + " --from file://{work}/archive-v1 docker://{reg:mirror}/mirror",
		Bytes: bytesOf("v1"), Limit: limitUnpack, Check: mirrored("mirror", "mirror", "v1"),
		CompareTo: "full unpack",
	},
	{
		Name: "delta pack", Tool: "enclave-pack",
		Args:    "--src-tls-verify=false --base {work}/receipt.json -c {isc:v2} file://{work}/archive-v2",
		Archive: "{work}/archive-v2", Bytes: newBytesOf("v2", "v1"), Limit: limitPack,
	},
	{
		Name: "delta unpack", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false " + unpackFiles + " --from file://{work}/archive-v2 docker://{reg:mirror}/mirror",
		Bytes: newBytesOf("v2", "v1"), Limit: limitUnpack, Check: mirrored("mirror", "mirror", "v2"),
	},
	{
		Name: "mirror to mirror", Tool: "enclave-pack",
		Args:  "--src-tls-verify=false --dest-tls-verify=false -c {isc:v1} --cluster-resources {work}/cluster-resources-m2m docker://{reg:m2m}/mirror",
		Bytes: bytesOf("v1"), Limit: limitMirror, Check: mirrored("m2m", "mirror", "v1"),
	},
	{
		// Every byte read and checked before the first write, then read
		// again to push (the behaviour before issue 18).
		Name: "full unpack --verify-first", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false --verify-first --receipt {work}/receipt-vf.json --cluster-resources {work}/cluster-resources-vf --from file://{work}/archive-v1 docker://{reg:vf}/mirror",
		Bytes: bytesOf("v1"), Limit: limitUnpack, Check: mirrored("vf", "mirror", "v1"),
		Reads: "{work}/archive-v1",
	},
	{
		// The archive read at 150 MB/s, as from a USB disk or a DVD
		// drive: the run is compared with the time reading the archive
		// once takes at that rate.
		Name: "full unpack, archive at 150 MB/s", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false --receipt {work}/receipt-slow.json --cluster-resources {work}/cluster-resources-slow --from file://{work}/archive-v1 docker://{reg:slow}/mirror",
		Bytes: bytesOf("v1"), Limit: limitUnpack, Check: mirrored("slow", "mirror", "v1"),
		Reads: "{work}/archive-v1", ReadRate: 150e6,
	},
	{
		// The same disk, and each read that does not continue the one
		// before it on its volume file costs 10 ms more: a USB hard
		// disk's or a DVD drive's seek.
		Name: "full unpack, archive at 150 MB/s with 10 ms seeks", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false --receipt {work}/receipt-seek.json --cluster-resources {work}/cluster-resources-seek --from file://{work}/archive-v1 docker://{reg:seek}/mirror",
		Bytes: bytesOf("v1"), Limit: limitUnpack, Check: mirrored("seek", "mirror", "v1"),
		Reads: "{work}/archive-v1", ReadRate: 150e6, ReadSeek: 10 * time.Millisecond,
	},
	{
		Name: "--verify-first, archive at 150 MB/s", Tool: "enclave-unpack",
		Args:  "--dest-tls-verify=false --verify-first --receipt {work}/receipt-slowvf.json --cluster-resources {work}/cluster-resources-slowvf --from file://{work}/archive-v1 docker://{reg:slowvf}/mirror",
		Bytes: bytesOf("v1"), Limit: limitUnpack, Check: mirrored("slowvf", "mirror", "v1"),
		Reads: "{work}/archive-v1", ReadRate: 150e6,
	},
	{
		Name: "2 GiB layer pack", Tool: "enclave-pack", Big: true,
		Args:    "--src-tls-verify=false -c {isc:big} file://{work}/archive-big",
		Archive: "{work}/archive-big", Bytes: bytesOf("big"), Limit: limitPack,
	},
	{
		// The 2 GiB layer pushed from the archive into an empty registry: its
		// memory is bounded by chunks, not by the layer (resumable chunked
		// upload above 64 MiB).
		Name: "2 GiB layer unpack", Tool: "enclave-unpack", Big: true,
		Args:  "--dest-tls-verify=false --receipt {work}/receipt-big.json --cluster-resources {work}/cluster-resources-big --from file://{work}/archive-big docker://{reg:big}/mirror",
		Bytes: bytesOf("big"), Limit: limitUnpackOne, Check: mirrored("big", "mirror", "big"),
		Reads: "{work}/archive-big",
	},
	{
		// An operator catalog whose selection has -operator-images related
		// images (operators.go): the cost per image of mirror.operators...
		Name: "operators pack", Tool: "enclave-pack", Operators: true,
		Args:    "--src-tls-verify=false -c {isc:operators} file://{work}/archive-operators",
		Archive: "{work}/archive-operators", Bytes: opsBytes, Limit: perImageRun,
		Images: opsImages(2), Check: packedRoots("{work}/archive-operators", opsImages(2)),
	},
	{
		// ...beside the same bundle and related images as additionalImages.
		Name: "operators as additionalImages pack", Tool: "enclave-pack", Operators: true,
		Args:    "--src-tls-verify=false -c {isc:operators-additional} file://{work}/archive-operators-additional",
		Archive: "{work}/archive-operators-additional", Bytes: opsBytes, Limit: perImageRun,
		Images: opsImages(0), Check: packedRoots("{work}/archive-operators-additional", opsImages(0)),
	},
	{
		// The archive of the run above pushed into an empty registry:
		// unpack's cost per image (its memory must not grow with them).
		Name: "operators as additionalImages unpack", Tool: "enclave-unpack", Operators: true,
		Args:  "--dest-tls-verify=false --receipt {work}/receipt-operators.json --cluster-resources {work}/cluster-resources-operators --from file://{work}/archive-operators-additional docker://{reg:operators}/mirror",
		Bytes: opsBytes, Limit: perImageRun,
		Images: opsImages(0), Check: receiptHolds("{work}/receipt-operators.json", func(b *bench) []string { return b.ops.Images }),
	},
	{
		// A catalog image with a 512 MiB layer (bigcatalog.go), one
		// package of two selected: the filtered catalog is built on that
		// layer, and memory must follow the filtered catalog's own blobs.
		Name: "operators pack, 512 MiB catalog image", Tool: "enclave-pack", Big: true, BigCatalog: true,
		Args:    "--src-tls-verify=false -c {isc:operators-big} file://{work}/archive-operators-big",
		Archive: "{work}/archive-operators-big", Bytes: func(b *bench) int64 { return b.bigCatalog.Bytes }, Limit: limitPack,
		// The original and filtered catalogs, and the bundle.
		Check: packedRoots("{work}/archive-operators-big", func(*bench) int { return 3 }),
	},
}

// unpackFiles keeps the receipt (which delta pack reads) and the cluster
// resources of every unpack in the work directory.
const unpackFiles = "--receipt {work}/receipt.json --cluster-resources {work}/cluster-resources"

// runSpec is one run of the table above.
type runSpec struct {
	Name string
	Tool string // binary name in the tools directory
	Args string // split on white space, then expanded
	// Archive is the archive the run writes, if any: deleted before, its
	// size reported against Bytes after.
	Archive string
	// Bytes is what the run must move: the unique blob bytes of its images.
	Bytes func(*bench) int64
	// Limit is the physical limit the run is compared with, bytes/s.
	Limit func(*bench) (float64, string)
	// Check, when set, verifies the run's result; its error is reported.
	Check func(context.Context, *bench) error
	// Big marks runs that need the big layer (-big).
	Big bool
	// CompareTo names an earlier run whose wall time this run's is
	// reported against (a second run that should find nothing to do).
	CompareTo string
	// Operators marks runs that need the operator catalog
	// (-operator-images above 0).
	Operators bool
	// BigCatalog marks runs that need the catalog image with a big layer
	// (with Big: -big).
	BigCatalog bool
	// Images, when set, is the number of images the run copies: the row
	// then gives wall and CPU time per image.
	Images func(*bench) int
	// Reads is the archive an unpack reads: what it reads of its volumes
	// is counted (ENCLAVE_READ_STATS) and reported against its size.
	Reads string
	// ReadRate, when set, paces the reads of the archive to this many
	// bytes/s (ENCLAVE_READ_RATE); the run's wall time is then reported
	// against the archive's size at that rate.
	ReadRate float64
	// ReadSeek, when set, charges each volume seek this much more time
	// (ENCLAVE_READ_SEEK).
	ReadSeek time.Duration
}

// Limits the runs are compared with.
func limitPack(b *bench) (float64, string) { // registry -> archive on disk
	return minLimit(b, "GET", "disk write")
}

func limitUnpack(b *bench) (float64, string) { // archive on disk -> registry
	return minLimit(b, "PUT")
}

func limitUnpackOne(b *bench) (float64, string) { // one blob: one stream
	return minLimit(b, "PUT 1 stream")
}

func limitMirror(b *bench) (float64, string) { // registry -> registry
	return minLimit(b, "GET", "PUT")
}

// perImageRun is the limit of a run measured per image, not per byte
// (the target is CPU time per image): none.
func perImageRun(*bench) (float64, string) { return 0, "" }

func minLimit(b *bench, names ...string) (float64, string) {
	best, which := 0.0, ""
	for _, n := range names {
		if r, ok := b.limits[n]; ok && (which == "" || r < best) {
			best, which = r, n
		}
	}
	return best, which
}

// opsBytes is the unique bytes of the operator catalog's bundle and
// related images (the catalog images are a few KB more).
func opsBytes(b *bench) int64 { return b.ops.Bytes }

// opsImages is the bundle and related images of the operator catalog, plus
// extra (the original and the filtered catalog for mirror.operators).
func opsImages(extra int) func(*bench) int {
	return func(b *bench) int { return len(b.ops.Images) + extra }
}

// packedRoots checks that the archive in dir (expanded) holds want roots:
// every image was packed.
func packedRoots(dir string, want func(*bench) int) func(context.Context, *bench) error {
	return func(_ context.Context, b *bench) error {
		d, err := b.expand(dir, "")
		if err != nil {
			return err
		}
		r, err := archive.Open(d)
		if err != nil {
			return err
		}
		defer r.Close()
		if got := len(r.Roots()); got != want(b) {
			return fmt.Errorf("%s holds %d images, want %d", d, got, want(b))
		}
		return nil
	}
}

// receiptHolds checks that the receipt at path (expanded) lists the digest
// of every image refs names (REPO@DIGEST): every image was pushed.
func receiptHolds(path string, refs func(*bench) []string) func(context.Context, *bench) error {
	return func(_ context.Context, b *bench) error {
		p, err := b.expand(path, "")
		if err != nil {
			return err
		}
		rc, _, err := archive.LoadReceipt(p)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, e := range rc.Content {
			have[e.Digest.String()] = true
		}
		for _, r := range refs(b) {
			_, d, ok := strings.Cut(r, "@")
			if !ok || !have[d] {
				return fmt.Errorf("%s: %s is not in the receipt", p, r)
			}
		}
		return nil
	}
}

func bytesOf(set string) func(*bench) int64 {
	return func(b *bench) int64 { return b.uniqueBytes(set) }
}

func newBytesOf(set, base string) func(*bench) int64 {
	return func(b *bench) int64 { return b.newBytes(set, base) }
}

// mirrored checks that registry reg holds every image of set under
// prefix/<repository>:<tag> with its original digest, <repository> being
// the source repository without the source host.
func mirrored(reg, prefix, set string) func(context.Context, *bench) error {
	return func(ctx context.Context, b *bench) error {
		r, err := b.regs.get(reg)
		if err != nil {
			return err
		}
		for _, im := range b.sets[set] {
			repo, err := remote.NewRepository(r.Host + "/" + prefix + "/" + im.Repository)
			if err != nil {
				return err
			}
			repo.PlainHTTP = true
			desc, err := repo.Resolve(ctx, im.Tag)
			if err != nil {
				return fmt.Errorf("%s/%s:%s: %w", prefix, im.Repository, im.Tag, err)
			}
			if desc.Digest != im.Digest {
				return fmt.Errorf("%s/%s:%s is %s, want %s", prefix, im.Repository, im.Tag, desc.Digest, im.Digest)
			}
		}
		return nil
	}
}

var placeholder = regexp.MustCompile(`\{[a-z]+(:[a-z0-9-]+)?\}`)

// expand replaces the placeholders in s.
func (b *bench) expand(s, slug string) (string, error) {
	var err error
	out := placeholder.ReplaceAllStringFunc(s, func(p string) string {
		name, arg, _ := strings.Cut(strings.Trim(p, "{}"), ":")
		switch name {
		case "src":
			b.runRegs = append(b.runRegs, "source")
			return b.src.Host
		case "work":
			return b.work
		case "profile":
			if b.cfg.profile == "" {
				return ""
			}
			return filepath.Join(b.cfg.profile, slug)
		case "isc":
			if f, ok := b.isc[arg]; ok {
				return f
			}
		case "reg":
			b.runRegs = append(b.runRegs, arg)
			r, e := b.regs.get(arg)
			if e != nil {
				err = e
				return ""
			}
			return r.Host
		}
		if err == nil {
			err = fmt.Errorf("unknown placeholder %s", p)
		}
		return ""
	})
	return out, err
}

// row is one line of the results table.
type row struct {
	name     string
	bytes    int64
	wall     time.Duration
	limit    float64 // bytes/s of the limit the row is compared with; 0 for none
	limitOf  string
	cpu      time.Duration // user + system
	maxRSS   int64         // bytes; 0 if unknown
	archive  int64         // bytes; 0 for none
	note     string
	isLimit  bool
	measured bool
	// versus, when set, replaces the comparison with the limit (CompareTo).
	versus string
	// images is the number of images the run copied (0: not per image).
	images int
	// reads is what the run read of its archive (Reads), as a note.
	reads string
	// registryCPU is what the registries used during the run.
	registryCPU time.Duration
}

// compareWith reports r's wall time as a share of the earlier row name's.
func (r *row) compareWith(name string, rows []row) {
	for _, o := range rows {
		if o.name == name && o.measured && r.measured && o.wall > 0 {
			r.versus = fmt.Sprintf("%.1f%% of %s wall", 100*r.wall.Seconds()/o.wall.Seconds(), name)
			return
		}
	}
}

// slugOf names a run's files: its name in lower case, every character
// but letters, digits and dashes (spaces, commas, slashes) a dash.
func slugOf(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(name))
}

// execute runs one run and returns its row.
func (b *bench) execute(ctx context.Context, rs runSpec) row {
	r := row{name: rs.Name}
	bin := filepath.Join(b.toolDir, rs.Tool)
	if _, err := os.Stat(bin); err != nil {
		r.note = fmt.Sprintf("skipped: no %s (tools/%s not built)", rs.Tool, rs.Tool)
		return r
	}
	if rs.Big && !b.cfg.big {
		r.note = "skipped: needs -big"
		return r
	}
	if rs.Operators && b.ops == nil {
		r.note = "skipped: -operator-images 0"
		return r
	}
	slug := slugOf(rs.Name)
	fail := func(err error) row { r.note = "error: " + err.Error(); return r }
	b.runRegs = nil // the registries the run's arguments name (expand)
	var args []string
	for _, w := range strings.Fields(rs.Args) {
		a, err := b.expand(w, slug)
		if err != nil {
			return fail(err)
		}
		args = append(args, a)
	}
	archive := ""
	if rs.Archive != "" {
		var err error
		if archive, err = b.expand(rs.Archive, slug); err != nil {
			return fail(err)
		}
		os.RemoveAll(archive)
	}
	r.bytes = rs.Bytes(b)
	r.limit, r.limitOf = rs.Limit(b)
	if rs.Images != nil {
		r.images = rs.Images(b)
	}

	logPath := filepath.Join(b.work, "logs", slug+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "$ %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if b.cfg.profile != "" {
		p := filepath.Join(b.cfg.profile, slug)
		cmd.Env = append(cmd.Env, "ENCLAVE_CPUPROFILE="+p+".cpu.pprof", "ENCLAVE_MEMPROFILE="+p+".mem.pprof")
	}
	readsOf, statsPath := "", filepath.Join(b.work, "logs", slug+".reads")
	if rs.Reads != "" {
		if readsOf, err = b.expand(rs.Reads, slug); err != nil {
			return fail(err)
		}
		os.Remove(statsPath)
		cmd.Env = append(cmd.Env, "ENCLAVE_READ_STATS="+statsPath)
		if rs.ReadRate > 0 {
			cmd.Env = append(cmd.Env, fmt.Sprintf("ENCLAVE_READ_RATE=%.0f", rs.ReadRate))
		}
		if rs.ReadSeek > 0 {
			cmd.Env = append(cmd.Env, "ENCLAVE_READ_SEEK="+rs.ReadSeek.String())
		}
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	b.logf("run %s: %s %s", rs.Name, rs.Tool, strings.Join(args, " "))
	// Only the registries the run names: an idle one still costs a little.
	regs := append([]string(nil), b.runRegs...)
	if rs.Tool == "enclave-pack" {
		regs = append(regs, "source") // named in the isc.yaml
	}
	if len(regs) == 0 {
		regs = []string{"-"} // none: count nothing
	}
	start, regCPU := time.Now(), b.regs.cpu(regs...)
	var hwm *peakRSS
	if err = cmd.Start(); err == nil {
		hwm = watchPeakRSS(cmd.Process.Pid)
		err = cmd.Wait()
		hwm.stop()
	}
	r.wall = time.Since(start)
	r.registryCPU = b.regs.cpu(regs...) - regCPU
	if st := cmd.ProcessState; st != nil {
		r.cpu = st.UserTime() + st.SystemTime()
		// Rusage.Maxrss is no good here: the child starts in this
		// process's address space (vfork) and exec carries that space's
		// high-water mark over, so it reports this process's RSS when it
		// is the larger. The child's own VmHWM, sampled, is used instead;
		// Maxrss only when the child was too quick to be sampled.
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.maxRSS = ru.Maxrss * 1024 // KiB on Linux
		}
		if n := hwm.bytes(); n > 0 {
			r.maxRSS = n
		}
	}
	if err != nil {
		return fail(fmt.Errorf("%v (log: %s)", err, logPath))
	}
	r.measured = true
	if readsOf != "" {
		if err := r.readStats(statsPath, readsOf, rs.ReadRate); err != nil {
			r.reads = "reads: " + err.Error()
		}
	}
	if archive != "" {
		if r.archive, err = dirSize(archive); err != nil {
			r.note = "archive: " + err.Error()
		}
	}
	if rs.Check != nil {
		if err := rs.Check(ctx, b); err != nil {
			r.note = "CHECK FAILED: " + err.Error()
		} else {
			r.note = "verified"
		}
	}
	return r
}

// readStats reports what the run read of the archive in dir, from the
// statistics file the tool wrote (ENCLAVE_READ_STATS): bytes read against
// the archive's size, and the seeks. With a read rate, the wall time is
// compared with reading the archive once at that rate.
func (r *row) readStats(path, dir string, rate float64) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var read, seeks, vseeks int64
	for _, l := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(l, " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "bytes":
			read = n
		case "seeks":
			seeks = n
		case "volume-seeks":
			vseeks = n
		}
	}
	size, err := dirSize(dir)
	if err != nil || size == 0 {
		return fmt.Errorf("archive size: %v", err)
	}
	r.reads = fmt.Sprintf("read %.3fx the archive (%d seeks, %d volume seeks)", float64(read)/float64(size), seeks, vseeks)
	if rate > 0 {
		once := float64(size) / rate
		r.versus = fmt.Sprintf("%.2fx archive at %.0f MB/s (%.1fs)", r.wall.Seconds()/once, rate/1e6, once)
	}
	return nil
}
