package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
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
	unpackHang := func(t *testing.T, rule faultproxy.Rule, budget time.Duration, want ...string) *faultproxy.Proxy {
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
		return p
	}
	t.Run("destination never answers", func(t *testing.T) {
		unpackHang(t, faultproxy.Rule{Fault: faultproxy.Hang(), Path: `/v2/.+`}, 2*time.Second, "retry budget")
	})
	// An upload starts again in a new session after a failure, up to 5
	// times (upload.Options.MaxFailures): 6 sessions, each bounded.
	t.Run("destination never answers an upload", func(t *testing.T) {
		p := unpackHang(t, faultproxy.Rule{Method: http.MethodPut, Path: `/blobs/uploads/`, Fault: faultproxy.Hang()}, 6*2*2*time.Second, "timeout awaiting response headers")
		// The first upload that spends its retries stops the others:
		// the uploads under way then (4 at most, each of 6 sessions,
		// each opened by a POST) and no new one. The sample has more
		// blobs than that, each of which would spend the budget again.
		p.WaitIdle(5 * time.Second)
		n := len(p.Select(http.MethodPost, `/blobs/uploads/$`))
		t.Logf("%d upload sessions", n)
		if n > 4*6 {
			t.Fatalf("%d upload sessions: more than 4 uploads of 6 sessions each, the breaker did not stop the others", n)
		}
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

// planted secrets: a password and a token in URLs given to the tools or
// sent by a peer. No output of a failing run may hold them.
const (
	plantedPassword = "pw-PLANTED-7f3a"
	plantedToken    = "tok-PLANTED-91c2"
)

// TestHostileSecretsInURLs: item 5. Failing runs whose URLs carry user
// information and query tokens print neither, anywhere (stdout, stderr,
// debug log).
func TestHostileSecretsInURLs(t *testing.T) {
	secretURL := func(hostport, path string) string {
		return "http://admin:" + plantedPassword + "@" + hostport + path + "?token=" + plantedToken + "&x=1"
	}
	check := func(t *testing.T, r run, want ...string) {
		t.Helper()
		if r.code == 0 {
			t.Fatalf("exit 0, want a failure\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		mustNotSay(t, r, plantedPassword, plantedToken, "admin:", "token=")
		mustSay(t, r, want...)
	}
	// A server that fails every request, and one that is not there.
	failing := regserver.New(t, regserver.Options{Wrap: func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) })
	}})
	hang, err := faultproxy.NewHangListener()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hang.Close)
	isc := platformISC(t, "4.15.2", "4.15.6", false)
	out := func() string { return "file://" + filepath.Join(t.TempDir(), "out") }

	t.Run("UPDATE_URL_OVERRIDE answering 500", func(t *testing.T) {
		t.Setenv("UPDATE_URL_OVERRIDE", secretURL(failing.Host, "/graph"))
		check(t, pack(t, append([]string{"-c", isc, "--skip-release-signatures", "--log-level", "debug"}, append(shortTimeouts, out())...)...), failing.Host+"/graph")
	})
	t.Run("UPDATE_URL_OVERRIDE never answering", func(t *testing.T) {
		t.Setenv("UPDATE_URL_OVERRIDE", secretURL(hang.Addr(), "/graph"))
		check(t, pack(t, append([]string{"-c", isc, "--skip-release-signatures", "--log-level", "debug"}, append(shortTimeouts, out())...)...), hang.Addr()+"/graph")
	})
	t.Run("UPDATE_URL_OVERRIDE not a URL", func(t *testing.T) {
		t.Setenv("UPDATE_URL_OVERRIDE", "http://admin:"+plantedPassword+"@[::1/graph?token="+plantedToken)
		check(t, pack(t, "-c", isc, "--skip-release-signatures", out()), "update graph URL")
	})
	t.Run("--update-url", func(t *testing.T) {
		t.Setenv("UPDATE_URL_OVERRIDE", "")
		check(t, pack(t, append([]string{"-c", isc, "--skip-release-signatures", "--update-url", secretURL(failing.Host, "/graph")}, append(shortTimeouts, out())...)...), failing.Host)
	})
	t.Run("enclave-pack list releases", func(t *testing.T) {
		check(t, pack(t, "list", "releases", "--channel", "stable-4.15", "--update-url", secretURL(failing.Host, "/g")), failing.Host)
	})
	t.Run("a registry redirecting a blob to a signed URL that fails", func(t *testing.T) {
		// The source redirects every blob to a storage URL with a signed
		// query, on a server that answers 500.
		src, _, isc := hostileSource(t, faultproxy.Rule{Method: http.MethodGet, Path: `/blobs/sha256:`,
			Fault: faultproxy.Redirect(http.StatusTemporaryRedirect, secretURL(failing.Host, "/bucket/blob"))})
		check(t, pack(t, append([]string{"-c", isc, "--src-tls-verify=false", "--log-level", "debug"}, append(shortTimeouts, out())...)...), src.Host, failing.Host)
	})
}

// TestHostileEscapeSequencesInArchive: item 6. References, media types and
// attachment names carrying terminal escape sequences: inspect, verify and
// unpack refuse the archive (exit 3), name the field with the string
// quoted, and never write a control character.
func TestHostileEscapeSequencesInArchive(t *testing.T) {
	mem := memory.New()
	good, _ := chain(t, mem, 1, 1)
	blobs := graphBlobs(t, mem, good)
	note := []byte(`{"note":"x"}`)
	const evil = "\x1b]0;pwned\x07\x1b[2J\x1b[1A\r"
	for _, tc := range []struct {
		name string
		edit func(m *format.Manifest)
		say  string
	}{
		{"reference", func(m *format.Manifest) { m.Roots[0].References[0] += evil }, `root 0 reference "example.com/team/good:v1\x1b]0;pwned\a`},
		{"C1 CSI in a reference", func(m *format.Manifest) { m.Roots[0].References[0] += "\u009b2J" }, `\u009b2J`},
		{"media type", func(m *format.Manifest) { m.Roots[0].Descriptor.MediaType += evil }, `media type "application/vnd.oci.image.index.v1+json\x1b]0;pwned`},
		{"attachment name", func(m *format.Manifest) {
			m.Attachments = []format.Attachment{{Name: "graph/" + evil + ".json", MediaType: "application/json", Digest: digest.FromBytes(note), Size: int64(len(note))}}
		}, `attachment 0 name "graph/\x1b]0;pwned`},
		{"bidi override in an attachment media type", func(m *format.Manifest) {
			m.Attachments = []format.Attachment{{Name: "graph/a.json", MediaType: "application/\u202ejson", Digest: digest.FromBytes(note), Size: int64(len(note))}}
		}, `\u202e`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := format.Manifest{Roots: []format.Root{{Descriptor: good, References: []string{"example.com/team/good:v1"}}}}
			tc.edit(&m)
			dir := filepath.Join(t.TempDir(), "content")
			if _, err := archivetest.HandMade(dir, append(blobs, note), m); err != nil {
				t.Fatal(err)
			}
			var wc writeCounter
			dst := regserver.New(t, regserver.Options{Wrap: wc.wrap})
			for _, args := range [][]string{{"inspect", "file://" + dir}, {"verify", "file://" + dir}, unpackArgs(t, dir, dst.Host), unpackArgs(t, dir, dst.Host, "--dry-run")} {
				r := unpack(t, args...)
				mustCode(t, r, mirror.ExitIntegrity)
				mustSay(t, r, tc.say)
				if i := strings.IndexFunc(r.stdout+r.stderr, func(c rune) bool {
					return c != '\n' && c != '\t' && (c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 || c == '\u202e')
				}); i >= 0 {
					t.Fatalf("%s: a control character in the output at %d: %q", args[0], i, r.stdout+r.stderr)
				}
			}
			if wc.n.Load() != 0 {
				t.Fatalf("%d writes reached the registry", wc.n.Load())
			}
		})
	}
}

// TestHostileEscapeSequencesFromRegistry: item 6, registry side. A
// registry's error message, which cannot be validated, reaches the screen
// with its control characters replaced.
func TestHostileEscapeSequencesFromRegistry(t *testing.T) {
	src, _, isc := hostileSource(t, faultproxy.Rule{Method: http.MethodGet, Path: manifestPath,
		Fault: faultproxy.OCIError(http.StatusForbidden, "DENIED", "go away\x1b]0;pwned\x07\x1b[2J\u009b1A")})
	r := pack(t, "-c", isc, "--src-tls-verify=false", "--log-level", "debug", "file://"+filepath.Join(t.TempDir(), "out"))
	mustCode(t, r, mirror.ExitRegistry)
	mustSay(t, r, src.Host, "go away")
	if i := strings.IndexFunc(r.stdout+r.stderr, func(c rune) bool {
		return c != '\n' && c != '\t' && (c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0)
	}); i >= 0 {
		t.Fatalf("a control character in the output at %d: %q", i, r.stdout+r.stderr)
	}
}

// TestHostileHostNameCase: item 7. A registries.conf block on
// localhost:PORT/library stops that prefix whatever the case of the host
// name in the image set: byte for byte (containers/image's rule) the
// lower-case name is blocked, and the upper-case one, which containers/image
// would let through, is refused as depending on case, never packed.
func TestHostileHostNameCase(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	_, port, _ := strings.Cut(src.Host, ":")
	conf := writeFile(t, t.TempDir(), "registries.conf", fmt.Sprintf("[[registry]]\nprefix = \"localhost:%s/library\"\nblocked = true\n", port))
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "LocalHost:" + port} {
		s, isc := seed(t, src, 9, host)
		if len(s.Tags) == 0 {
			t.Fatal("empty sample")
		}
		out := filepath.Join(t.TempDir(), "out")
		r := pack(t, "-c", isc, "--registries-conf", conf, "--src-tls-verify=false", "file://"+out)
		// The image under the blocked prefix fails, the other is packed.
		mustCode(t, r, mirror.ExitFailure)
		mustSay(t, r, "1 done, 1 failed", "FAILED "+host+"/library/app", "done "+host+"/team/tool")
		if host == "localhost:"+port {
			mustSay(t, r, "blocked by registries.conf")
		} else {
			mustSay(t, r, "compared byte for byte", "write host names in lower case")
		}
	}
}
