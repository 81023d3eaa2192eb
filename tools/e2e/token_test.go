package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// statuses records the status of every request the registry answers,
// by method and kind ("blob" for upload sessions, "manifest").
type statuses struct {
	mu  sync.Mutex
	got map[string][]int
}

func (s *statuses) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK} // order_test.go
		h.ServeHTTP(sw, r)
		kind := "other"
		switch {
		case strings.Contains(r.URL.Path, "/blobs/uploads/"):
			kind = "blob"
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = "manifest"
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.got == nil {
			s.got = map[string][]int{}
		}
		s.got[r.Method+" "+kind] = append(s.got[r.Method+" "+kind], sw.status)
	})
}

// count returns how many requests of method and kind got status.
func (s *statuses) count(method, kind string, status int) (n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.got[method+" "+kind] {
		if c == status {
			n++
		}
	}
	return n
}

const (
	tokenUser = "carol"
	tokenPass = "token-pass-789"
)

// expiringTokens starts a destination registry with distribution's token
// authentication and tokens that live one second, so they expire many
// times during a run; the first blob PUT and the first manifest PUT are
// also held in front of the registry until the token they carry has
// expired, after the POST that opened the session was accepted with it.
func expiringTokens(t *testing.T) (*regserver.Registry, *statuses) {
	t.Helper()
	const (
		lifetime = time.Second
		// The registry refuses a token at most a second after Lifetime
		// (JWT times are whole seconds).
		stall = lifetime + 1200*time.Millisecond
	)
	p := faultproxy.New()
	for _, r := range []faultproxy.Rule{
		{Method: "PUT", Path: `/blobs/uploads/`, Times: 1, Fault: faultproxy.Stall(stall)},
		{Method: "PUT", Path: `/manifests/`, Times: 1, Fault: faultproxy.Stall(stall)},
	} {
		if err := p.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	st := &statuses{}
	dst := regserver.New(t, regserver.Options{Username: tokenUser, Password: tokenPass,
		Token: &regserver.TokenAuth{Lifetime: lifetime},
		Wrap:  func(h http.Handler) http.Handler { return st.wrap(p.Wrap(h)) }})
	return dst, st
}

// checkTokensRefreshed asserts the held PUTs were refused with the token of
// their POST, then sent again with a new one; that every image of f is at
// dst under prefix by digest with every blob; and that the output shows no
// credential and no token: every JWT starts with "eyJ" (base64 of `{"`).
func checkTokensRefreshed(t *testing.T, r run, f *fixture, dst *regserver.Registry, st *statuses, prefix string) {
	t.Helper()
	issued := dst.Tokens.Issued()
	for _, kind := range []string{"blob", "manifest"} {
		if n := st.count("PUT", kind, http.StatusUnauthorized); n == 0 {
			t.Errorf("no %s PUT was refused: the token did not expire before it", kind)
		}
	}
	if refused := st.count("PUT", "blob", 401) + st.count("PUT", "manifest", 401); issued <= refused {
		t.Errorf("%d tokens issued for %d refused PUTs, want more", issued, refused)
	}
	ctx := context.Background()
	client := &auth.Client{Cache: auth.NewCache(), Credential: auth.StaticCredential(dst.Host, auth.Credential{Username: tokenUser, Password: tokenPass})}
	for ref, root := range f.s.Tags {
		name, tag, _ := strings.Cut(ref, ":")
		d := repo(t, dst.Host, prefix+"/"+name)
		d.Client = client
		got, err := d.Resolve(ctx, tag)
		if err != nil {
			t.Fatalf("%s at destination: %v", ref, err)
		}
		if got.Digest != root.Digest {
			t.Fatalf("%s: destination digest %s, source %s", ref, got.Digest, root.Digest)
		}
		if err := archivetest.SameGraph(ctx, repo(t, f.src.Host, name), d, root); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	mustNotSay(t, r, tokenPass, base64.StdEncoding.EncodeToString([]byte(tokenUser+":"+tokenPass)), "eyJ", "Bearer ey")
}

// TestReliabilityTokenExpiresDuringUnpack: group E, "token expiring during a
// long upload", for enclave-unpack (see expiringTokens). Each refused
// request gets a new token and is sent again; the run succeeds, every image
// is at the destination with its digest, and no token or credential is
// printed, even at debug level.
func TestReliabilityTokenExpiresDuringUnpack(t *testing.T) {
	f := packFixture(t, 3)
	dst, st := expiringTokens(t)
	r := unpack(t, unpackArgs(t, f.dir, dst.Host, "--authfile", authFile(t, dst.Host, tokenUser, tokenPass), "--log-level", "debug")...)
	mustCode(t, r, 0)
	checkTokensRefreshed(t, r, f, dst, st, "mirror")
}

// TestReliabilityTokenExpiresDuringMirrorToMirror: the same for enclave-pack
// copying registry to registry, whose blobs come from the source registry
// (reopened there when a PUT is sent again).
func TestReliabilityTokenExpiresDuringMirrorToMirror(t *testing.T) {
	f := &fixture{src: regserver.New(t, regserver.Options{})}
	f.s, f.isc = seed(t, f.src, 4, f.src.Host)
	dst, st := expiringTokens(t)
	r := pack(t, "-c", f.isc, "--src-tls-verify=false", "--dest-tls-verify=false", "--authfile", authFile(t, dst.Host, tokenUser, tokenPass),
		"--log-level", "debug", "docker://"+dst.Host+"/m2m")
	mustCode(t, r, 0)
	checkTokensRefreshed(t, r, f, dst, st, "m2m")
}

// TestReliabilityCredentialsRevokedDuringUnpack: the token endpoint stops
// granting tokens once the first blob is up (the account was disabled
// mid-run). Unpack fails every image that needs a new token with one clear
// auth error each (exit 4 when all do, 1 when a cached token finished one),
// asks the token endpoint a bounded number of times (no retry storm), and
// prints no credential, token or upload state.
func TestReliabilityCredentialsRevokedDuringUnpack(t *testing.T) {
	f := packFixture(t, 5)
	var dst *regserver.Registry
	var once sync.Once
	revoke := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			h.ServeHTTP(sw, r)
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && sw.status == http.StatusCreated {
				once.Do(dst.Tokens.Revoke)
			}
		})
	}
	dst = regserver.New(t, regserver.Options{Username: tokenUser, Password: tokenPass,
		Token: &regserver.TokenAuth{Lifetime: time.Second}, Wrap: revoke})
	t0 := time.Now()
	r := unpack(t, unpackArgs(t, f.dir, dst.Host, "--parallel", "1", "--authfile", authFile(t, dst.Host, tokenUser, tokenPass), "--log-level", "debug")...)
	// Tokens still cached may finish the image under way (exit 1); every
	// image that needed a new token fails on the 401.
	if r.code != mirror.ExitRegistry && r.code != mirror.ExitFailure {
		t.Fatalf("exit %d, want %d or %d\n%s%s", r.code, mirror.ExitFailure, mirror.ExitRegistry, r.stdout, r.stderr)
	}
	mustSay(t, r, "/token\": response status code 401: unauthorized", "failed")
	if n := dst.Tokens.Refused(); n == 0 || n > 8 {
		t.Errorf("the token endpoint refused %d requests, want 1 to 8", n)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("unpack took %v to give up", d)
	}
	mustNotSay(t, r, tokenPass, base64.StdEncoding.EncodeToString([]byte(tokenUser+":"+tokenPass)), "eyJ", "_state")
}
