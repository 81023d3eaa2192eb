// Package regserver starts a real CNCF distribution registry (the same code
// that runs registry:3) inside the current process, on a loopback port.
//
// Tests, the demo and the benchmarks use it so that every registry interaction
// goes through a real implementation of the distribution spec, not a mock.
package regserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"             // register the htpasswd access controller
	_ "github.com/distribution/distribution/v3/registry/auth/token"                // register the token access controller
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // register the filesystem driver
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"   // register the in-memory driver
)

// Options configure a registry. The zero value is an in-memory registry over
// plain HTTP with no authentication.
type Options struct {
	// RootDir, when set, stores content on the filesystem below it instead of
	// in memory.
	RootDir string
	// Username and Password, when both are set, require HTTP basic auth
	// (an htpasswd file with a bcrypt entry); with Token, they are required
	// at the token endpoint instead.
	Username, Password string
	// Token, when set, makes the registry use token authentication with
	// its own TokenIssuer (Registry.Tokens).
	Token *TokenAuth
	// TLS serves HTTPS with a self-signed certificate (httptest's); clients
	// must be given Registry.Client or skip verification.
	TLS bool
	// AllowURLs, when set, is a regular expression of the layer urls the
	// registry accepts in manifests (distribution's
	// validation.manifests.urls.allow). Unset, distribution's default: a
	// manifest naming a foreign layer's urls is refused.
	AllowURLs string
	// SparseIndexes accepts an image index whose platform manifests are
	// partly absent (distribution's validation.manifests.indexes.platforms:
	// none). Unset, distribution's default: every child must exist.
	SparseIndexes bool
	// Wrap, when set, wraps the registry's handler (fault injection in tests).
	Wrap func(http.Handler) http.Handler
}

// Registry is a running registry.
type Registry struct {
	// Host is "127.0.0.1:port", the registry's address in references.
	Host string
	// URL is the base URL, http:// or https://.
	URL string
	// Tokens is the token endpoint, nil without Options.Token.
	Tokens *TokenIssuer
	server *httptest.Server
	cancel context.CancelFunc
	tmp    string
}

var quietOnce sync.Once

// Start starts a registry. Close stops it.
func Start(opts Options) (*Registry, error) {
	quietOnce.Do(func() {
		// distribution logs every request through logrus; keep test and
		// tool output readable.
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
	})
	cfg := &configuration.Configuration{}
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "panic"
	cfg.HTTP.Secret = "enclave-test-secret"
	cfg.Catalog.MaxEntries = 1000
	if opts.RootDir != "" {
		cfg.Storage = configuration.Storage{"filesystem": configuration.Parameters{"rootdirectory": opts.RootDir}}
	} else {
		cfg.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	}
	if opts.AllowURLs != "" {
		cfg.Validation.Manifests.URLs.Allow = []string{opts.AllowURLs}
	}
	if opts.SparseIndexes {
		cfg.Validation.Manifests.Indexes.Platforms = "none"
	}
	cfg.Storage["delete"] = configuration.Parameters{"enabled": true}
	cfg.Storage["maintenance"] = configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}}

	r := &Registry{}
	// The listener comes first: a token realm names the registry's address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("regserver: listen on loopback: %w", err)
	}
	fail := func(err error) (*Registry, error) {
		l.Close()
		if r.tmp != "" {
			os.RemoveAll(r.tmp)
		}
		return nil, err
	}
	scheme := "http"
	if opts.TLS {
		scheme = "https"
	}
	if opts.Token != nil || opts.Username != "" && opts.Password != "" {
		dir, err := os.MkdirTemp("", "regserver-auth-")
		if err != nil {
			return fail(err)
		}
		r.tmp = dir
	}
	switch {
	case opts.Token != nil:
		if r.Tokens, err = newTokenIssuer(opts); err != nil {
			return fail(err)
		}
		if cfg.Auth, err = r.Tokens.config(r.tmp, scheme+"://"+l.Addr().String()+TokenPath); err != nil {
			return fail(err)
		}
	case opts.Username != "" && opts.Password != "":
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			return fail(err)
		}
		path := filepath.Join(r.tmp, "htpasswd")
		if err := os.WriteFile(path, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			return fail(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "enclave-test", "path": path}}
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	var app http.Handler
	if err := func() (err error) {
		defer func() {
			if p := recover(); p != nil { // NewApp panics on bad storage config
				err = fmt.Errorf("regserver: %v", p)
			}
		}()
		app = handlers.NewApp(ctx, cfg)
		return nil
	}(); err != nil {
		cancel()
		return fail(err)
	}
	if opts.Wrap != nil {
		app = opts.Wrap(app)
	}
	if r.Tokens != nil {
		// The token endpoint is outside Wrap: faults are the registry's.
		mux := http.NewServeMux()
		mux.Handle(TokenPath, r.Tokens)
		mux.Handle("/", app)
		app = mux
	}
	srv := httptest.NewUnstartedServer(app)
	srv.Listener = l
	if opts.TLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	r.server = srv
	r.URL = srv.URL
	r.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
	return r, nil
}

// Client returns an HTTP client that trusts the registry's certificate (for TLS
// registries) and nothing else.
func (r *Registry) Client() *http.Client { return r.server.Client() }

// TLSConfig returns a TLS configuration trusting the registry's certificate, or
// nil for a plain HTTP registry.
func (r *Registry) TLSConfig() *tls.Config {
	if t, ok := r.server.Client().Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		return t.TLSClientConfig.Clone()
	}
	return nil
}

// Certificate returns the PEM-free DER certificate of a TLS registry.
func (r *Registry) Certificate() ([]byte, error) {
	c := r.server.Certificate()
	if c == nil {
		return nil, errors.New("regserver: registry does not serve TLS")
	}
	return c.Raw, nil
}

// Close stops the registry and removes its temporary files.
func (r *Registry) Close() {
	r.server.Close()
	r.cancel()
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
}

// TB is the part of testing.TB that New needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// New starts a registry for a test and stops it when the test ends.
func New(t TB, opts Options) *Registry {
	t.Helper()
	r, err := Start(opts)
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}
