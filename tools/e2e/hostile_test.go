package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/faultproxy"
	"github.com/enclave-mirror/enclave/internal/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// Hostile peers (issue 22): registries that hang, trickle or page for
// ever, archives that claim too much, secrets in URLs, escape sequences in
// names. Budgets are kept small with the timeout flags.

// shortTimeouts are the timeout flags of the hostile tests: a stalled peer
// must fail the run within a few seconds.
var shortTimeouts = []string{"--connect-timeout", "1s", "--response-timeout", "1s", "--stall-timeout", "1s", "--retry-budget", "2s"}

// hangSlack is what a run may take beyond its budget (the other images,
// the retries' waits, a slow shared machine).
const hangSlack = 20 * time.Second

// hostileSource starts a source registry seeded with a sample set, behind a
// fault proxy with rules.
func hostileSource(t *testing.T, rules ...faultproxy.Rule) (*regserver.Registry, *faultproxy.Proxy, string) {
	t.Helper()
	p := faultproxy.New()
	src := regserver.New(t, regserver.Options{Wrap: p.Wrap})
	_, isc := seed(t, src, 7, src.Host)
	for _, r := range rules {
		if err := p.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return src, p, isc
}

// TestHostileStalledPeers: item 2. A source or destination that accepts a
// request and never answers, or trickles a body, fails the image with exit
// 4 naming the host, within the budget.
func TestHostileStalledPeers(t *testing.T) {
	packHang := func(t *testing.T, rule faultproxy.Rule, budget time.Duration, want ...string) {
		src, p, isc := hostileSource(t, rule)
		start := time.Now()
		r := pack(t, append(append([]string{"-c", isc, "--src-tls-verify=false"}, shortTimeouts...), "file://"+filepath.Join(t.TempDir(), "out"))...)
		took := time.Since(start)
		mustCode(t, r, mirror.ExitRegistry)
		mustSay(t, r, append([]string{src.Host}, want...)...)
		if took > budget+hangSlack {
			t.Fatalf("pack took %s, budget %s", took, budget)
		}
		if faulted(p) == 0 {
			t.Fatal("the fault was never applied")
		}
		t.Logf("failed in %s", took)
	}
	t.Run("source never answers a manifest request", func(t *testing.T) {
		packHang(t, faultproxy.Rule{Path: manifestPath, Fault: faultproxy.Hang()}, 2*time.Second, "retry budget")
	})
	t.Run("source trickles a blob", func(t *testing.T) {
		packHang(t, faultproxy.Rule{Method: http.MethodGet, Path: `/blobs/`, Fault: faultproxy.Trickle(16, 250*time.Millisecond)}, 2*time.Second, "stalled")
	})
	t.Run("source stops sending half-way through a blob", func(t *testing.T) {
		packHang(t, faultproxy.Rule{Method: http.MethodGet, Path: `/blobs/`, Fault: faultproxy.Trickle(32<<10, time.Hour)}, 2*time.Second, "stalled")
	})
	t.Run("source accepts connections and never speaks", func(t *testing.T) {
		h, err := faultproxy.NewHangListener()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		isc := writeISCRefs(t, h.Addr()+"/library/app:1")
		start := time.Now()
		r := pack(t, append(append([]string{"-c", isc, "--src-tls-verify=false"}, shortTimeouts...), "file://"+filepath.Join(t.TempDir(), "out"))...)
		took := time.Since(start)
		mustCode(t, r, mirror.ExitRegistry)
		mustSay(t, r, h.Addr())
		if took > 4*time.Second+hangSlack {
			t.Fatalf("pack took %s", took)
		}
		if h.Accepted() == 0 {
			t.Fatal("no connection reached the listener")
		}
		t.Logf("failed in %s", took)
	})
	f := packFixture(t, 8)
	unpackHang := func(t *testing.T, rule faultproxy.Rule, budget time.Duration, want ...string) {
		dst, p, _ := faulty(t, rule)
		start := time.Now()
		r := unpack(t, unpackArgs(t, f.dir, dst.Host, shortTimeouts...)...)
		took := time.Since(start)
		mustCode(t, r, mirror.ExitRegistry)
		mustSay(t, r, append([]string{dst.Host}, want...)...)
		if took > budget+hangSlack {
			t.Fatalf("unpack took %s, budget %s", took, budget)
		}
		if faulted(p) == 0 {
			t.Fatal("the fault was never applied")
		}
		t.Logf("failed in %s", took)
	}
	t.Run("destination never answers", func(t *testing.T) {
		unpackHang(t, faultproxy.Rule{Fault: faultproxy.Hang(), Path: `/v2/.+`}, 2*time.Second, "retry budget")
	})
	// An upload starts again in a new session after a failure, up to 5
	// times (upload.Options.MaxFailures): 6 sessions, each bounded.
	t.Run("destination never answers an upload", func(t *testing.T) {
		unpackHang(t, faultproxy.Rule{Method: http.MethodPut, Path: `/blobs/uploads/`, Fault: faultproxy.Hang()}, 6*2*2*time.Second, "timeout awaiting response headers")
	})
}

// writeISCRefs writes an isc.yaml listing refs as additional images.
func writeISCRefs(t *testing.T, refs ...string) string {
	t.Helper()
	var b []byte
	b = append(b, "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n"...)
	for _, r := range refs {
		b = append(b, "  - name: "+r+"\n"...)
	}
	return writeFile(t, t.TempDir(), "isc.yaml", string(b))
}

// TestHostileEndlessReferrers: item 3. A source whose referrers listing
// links to a next page for ever: pack stops at the page limit with a clear
// error naming the host, instead of following the chain and keeping every
// page.
func TestHostileEndlessReferrers(t *testing.T) {
	for _, tc := range []struct {
		perPage int
		say     string
	}{
		{10, "more than 64 pages of referrers"},
		{1000, "more than 10000 entries of referrers"},
	} {
		t.Run(tc.say, func(t *testing.T) {
			loop := &faultproxy.LoopReferrers{PerPage: tc.perPage}
			src, _, isc := hostileSource(t, faultproxy.Rule{Method: http.MethodGet, Path: `/referrers/`, Fault: loop.Fault()})
			start := time.Now()
			r := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+filepath.Join(t.TempDir(), "out"))
			took := time.Since(start)
			mustCode(t, r, mirror.ExitRegistry)
			mustSay(t, r, src.Host, tc.say, "--no-referrers")
			// Two images, each listing tried twice (the origin by tag and
			// by digest), each stopped after 65 pages at most.
			if n := loop.Pages(); n > 2*2*65 {
				t.Fatalf("%d pages fetched", n)
			}
			if took > 60*time.Second {
				t.Fatalf("pack took %s", took)
			}
			t.Logf("failed after %d pages in %s", loop.Pages(), took)
			// --no-referrers leaves them behind: the images pack.
			mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--no-referrers", "file://"+filepath.Join(t.TempDir(), "out")), 0)
		})
	}
}

// TestHostileAttachmentBomb: item 4. A small archive whose manifest lists
// 40 release graphs, every name pointing at one 64 MiB blob of zeros: each
// is under its own limit, all together they are not. Unpack, --dry-run
// included, refuses it with exit 3 before reading any of them, without
// allocating anything near their size.
func TestHostileAttachmentBomb(t *testing.T) {
	mem := memory.New()
	good, _ := chain(t, mem, 1, 1)
	zeros := make([]byte, 64<<20)
	zd := digest.FromBytes(zeros)
	m := format.Manifest{Roots: []format.Root{{Descriptor: good, References: []string{"example.com/team/good:v1"}}}}
	for i := range 40 {
		m.Attachments = append(m.Attachments, format.Attachment{Name: fmt.Sprintf("graph/ocp/stable-4.%d/amd64.json", i),
			MediaType: "application/json", Digest: zd, Size: int64(len(zeros))})
	}
	dir := filepath.Join(t.TempDir(), "content")
	if _, err := archivetest.HandMade(dir, append(graphBlobs(t, mem, good), zeros), m); err != nil {
		t.Fatal(err)
	}
	zeros = nil
	dst := regserver.New(t, regserver.Options{})
	for _, extra := range [][]string{{"--dry-run"}, nil, {"--skip-verify"}} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		r := unpack(t, unpackArgs(t, dir, dst.Host, extra...)...)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		mustCode(t, r, mirror.ExitIntegrity)
		mustSay(t, r, "attachments add up to more than 1073741824 bytes", dir)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
			t.Errorf("%v: unpack allocated %d MiB", extra, alloc>>20)
		} else {
			t.Logf("%v: refused in %s, %d MiB allocated", extra, took, alloc>>20)
		}
	}
}
