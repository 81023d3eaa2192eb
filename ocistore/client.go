package ocistore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// probeTimeout bounds the GET /v2/ used to discover whether an insecure
// registry speaks HTTPS or plain HTTP.
const probeTimeout = 15 * time.Second

// Options configure how registries are reached. The zero value verifies TLS
// against the system roots, reads the default auth files and registries.conf,
// and logs through slog.Default().
type Options struct {
	// AuthFile is an explicit auth file (--authfile), consulted first; see
	// AuthFilePaths. Ignored when Keychain is set.
	AuthFile string
	// Keychain, when set, is used instead of loading auth files.
	Keychain *Keychain
	// RegistriesConf is an explicit registries.conf path; see
	// LoadRegistriesConf. Ignored when Registries is set.
	RegistriesConf string
	// Registries, when set, is used instead of loading registries.conf.
	Registries *RegistriesConf
	// SkipTLSVerify is --tls-verify=false: certificates are not verified and
	// a registry that only speaks plain HTTP is used over http:// (with a
	// warning). When false, TLS failures are errors and plain HTTP is never
	// used, except for registries marked insecure in registries.conf.
	SkipTLSVerify bool
	// CAFile is a PEM bundle of extra trusted roots.
	CAFile string
	// CACertDir is a directory (like --cert-dir) of *.crt roots and
	// optional client certificate pairs name.cert + name.key.
	CACertDir string
	// UserAgent, when set, is sent with every request.
	UserAgent string
	// BaseTransport, when set, is cloned as the innermost transport (proxy,
	// dialer, timeouts); its TLS settings are replaced. Default: a clone of
	// http.DefaultTransport.
	BaseTransport *http.Transport
	// WrapTransport, when set, wraps the TLS-configured transport, e.g. with
	// a retrying RoundTripper. It is called once per TLS mode.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Logger receives warnings (plain HTTP in use, registry warnings) and
	// debug records (which endpoint served a request). Default slog.Default().
	Logger *slog.Logger
	// Probes caches, per host, whether an insecure registry speaks plain
	// HTTP. Default: a cache shared by the whole process.
	Probes *ProbeCache
	// Timeouts bound each network operation of one attempt (connect, TLS
	// handshake, response headers, body stall); zero fields take the
	// defaults.
	Timeouts Timeouts
	// Limits bound lists read from registries (referrers); zero fields
	// take the defaults.
	Limits Limits
	// OnServe, when set, is called after a Source resolved or fetched desc
	// from an endpoint, e.g. to print "pulled via mirror X". It may be called
	// from several goroutines at once.
	OnServe func(ServeEvent)
}

// ProbeCache remembers, per registry host, whether it was found to speak
// plain HTTP. Safe for concurrent use; the zero value is empty.
type ProbeCache struct {
	mu     sync.Mutex
	plain  map[string]bool
	flight singleflight.Group // one probe of a host at a time
}

var defaultProbes ProbeCache

func (p *ProbeCache) get(host string) (plain, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	plain, ok = p.plain[host]
	return plain, ok
}

func (p *ProbeCache) set(host string, plain bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.plain == nil {
		p.plain = map[string]bool{}
	}
	p.plain[host] = plain
}

// Client reaches registries with one set of options. It keeps one
// connection pool per TLS mode, so reuse one Client for a whole run. Safe
// for concurrent use.
type Client struct {
	opts     Options
	keychain *Keychain
	conf     *RegistriesConf
	logger   *slog.Logger
	probes   *ProbeCache
	limits   Limits

	secure   http.RoundTripper // verifies certificates
	insecure http.RoundTripper // skips verification
	probeRT  *http.Transport   // insecure, unwrapped: for the probe only
	closers  []*http.Transport

	repos repoCache // Source's repository clients, shared by its images
}

// NewClient loads credentials and registries.conf and prepares transports.
func NewClient(opts Options) (*Client, error) {
	c := &Client{opts: opts, keychain: opts.Keychain, conf: opts.Registries, logger: opts.Logger, probes: opts.Probes,
		limits: opts.Limits.withDefaults(), repos: repoCache{max: maxSourceRepositories}}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.probes == nil {
		c.probes = &defaultProbes
	}
	var err error
	if c.keychain == nil {
		if c.keychain, err = LoadKeychain(opts.AuthFile); err != nil {
			return nil, err
		}
	}
	if c.conf == nil {
		if c.conf, err = LoadRegistriesConf(opts.RegistriesConf); err != nil {
			return nil, err
		}
	}
	roots, certs, err := loadTLSFiles(opts.CAFile, opts.CACertDir)
	if err != nil {
		return nil, err
	}
	base := opts.BaseTransport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	timeouts := opts.Timeouts.withDefaults()
	mk := func(skip bool) *http.Transport {
		t := base.Clone()
		timeouts.apply(t)
		t.TLSClientConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            roots,
			Certificates:       certs,
			InsecureSkipVerify: skip, //nolint:gosec // only with --tls-verify=false or insecure = true
		}
		c.closers = append(c.closers, t)
		return t
	}
	wrap := func(t http.RoundTripper) http.RoundTripper {
		if opts.WrapTransport != nil {
			return opts.WrapTransport(t)
		}
		return t
	}
	c.secure = wrap(StallGuard(refusePlainHTTP{mk(false)}, timeouts.Stall))
	c.insecure = wrap(StallGuard(mk(true), timeouts.Stall))
	c.probeRT = mk(true)
	return c, nil
}

// refusePlainHTTP names the failure when a verifying client meets a server
// that answers TLS with plain HTTP: ErrPlainHTTPRefused, never a fall back.
type refusePlainHTTP struct{ rt http.RoundTripper }

func (r refusePlainHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	var rh tls.RecordHeaderError
	if err != nil && errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
		return nil, fmt.Errorf("%w: %s (use --tls-verify=false or insecure = true in registries.conf to allow it): %w", ErrPlainHTTPRefused, req.URL.Host, err)
	}
	return resp, err
}

// sourceRepository returns the repository client a Source reads ref's
// repository through, shared by every Source of the client (with its auth
// cache: one token per repository and run, not per image) and kept among
// the maxSourceRepositories used last.
func (c *Client) sourceRepository(ctx context.Context, ref Reference, insecure bool) (*remote.Repository, error) {
	key := repoKey{name: ref.Name(), insecure: insecure}
	if r := c.repos.get(key); r != nil {
		return r, nil
	}
	r, err := c.repository(ctx, ref, insecure)
	if err != nil {
		return nil, err
	}
	return c.repos.add(key, r), nil
}

// Close releases idle connections.
func (c *Client) Close() {
	for _, t := range c.closers {
		t.CloseIdleConnections()
	}
}

// Keychain returns the credentials in use.
func (c *Client) Keychain() *Keychain { return c.keychain }

// RegistriesConf returns the registries.conf in use.
func (c *Client) RegistriesConf() *RegistriesConf { return c.conf }

func loadTLSFiles(caFile, certDir string) (*x509.CertPool, []tls.Certificate, error) {
	if caFile == "" && certDir == "" {
		return nil, nil, nil // system roots
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	addPEM := func(path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("ocistore: CA file: %w", err)
		}
		if !roots.AppendCertsFromPEM(data) {
			return fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidConfig, path)
		}
		return nil
	}
	if caFile != "" {
		if err := addPEM(caFile); err != nil {
			return nil, nil, err
		}
	}
	var certs []tls.Certificate
	if certDir != "" {
		entries, err := os.ReadDir(certDir)
		if err != nil {
			return nil, nil, fmt.Errorf("ocistore: certificate directory: %w", err)
		}
		for _, e := range entries {
			name := filepath.Join(certDir, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				if err := addPEM(name); err != nil {
					return nil, nil, err
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(name, ".cert") + ".key"
				pair, err := tls.LoadX509KeyPair(name, key)
				if err != nil {
					return nil, nil, fmt.Errorf("%w: client certificate %s: %w", ErrInvalidConfig, name, err)
				}
				certs = append(certs, pair)
			}
		}
	}
	return roots, certs, nil
}

// Repository returns a repository client for ref (its tag and digest are
// ignored), with credentials, TLS and plain-HTTP handling per the options
// and registries.conf "insecure". No mirror redirection applies: use it for
// destinations and direct access.
func (c *Client) Repository(ctx context.Context, ref Reference) (*remote.Repository, error) {
	return c.repository(ctx, ref, c.opts.SkipTLSVerify || c.conf.Insecure(ref))
}

func (c *Client) repository(ctx context.Context, ref Reference, insecure bool) (*remote.Repository, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	if ref.Registry == "" || ref.Repository == "" {
		return nil, fmt.Errorf("%w: %q names no registry and repository", ErrInvalidReference, ref)
	}
	repo, err := remote.NewRepository(ref.Name())
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidReference, ref, err)
	}
	rt := c.secure
	if insecure {
		rt = c.insecure
		plain, err := c.speaksPlainHTTP(ctx, repo.Reference.Host())
		if err != nil {
			return nil, err
		}
		repo.PlainHTTP = plain
	}
	client := &auth.Client{
		Client:     &http.Client{Transport: rt},
		Credential: c.keychain.CredentialFunc(ref.Repository),
		// Per repository: podman credentials may be repository-scoped,
		// and basic-auth tokens are cached per host.
		Cache: auth.NewCache(),
	}
	if c.opts.UserAgent != "" {
		client.SetUserAgent(c.opts.UserAgent)
	}
	repo.Client = client
	repo.MaxMetadataBytes = c.limits.PageBytes
	logger := c.logger
	repo.HandleWarning = func(w remote.Warning) {
		logger.Warn("registry warning", "registry", ref.Registry, "text", w.Text)
	}
	return repo, nil
}

// speaksPlainHTTP probes https://host/v2/ without verification; only if that
// fails and http://host/v2/ answers is the registry taken to speak plain
// HTTP. Answers are cached per host; failures are not.
func (c *Client) speaksPlainHTTP(ctx context.Context, host string) (bool, error) {
	if plain, ok := c.probes.get(host); ok {
		return plain, nil
	}
	// Images start in parallel: one probe (and one warning) per host, the
	// others wait for its answer.
	v, err, _ := c.probes.flight.Do(host, func() (any, error) {
		if plain, ok := c.probes.get(host); ok {
			return plain, nil
		}
		return c.probe(ctx, host)
	})
	plain, _ := v.(bool)
	return plain, err
}

func (c *Client) probe(ctx context.Context, host string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	get := func(scheme string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/v2/", nil)
		if err != nil {
			return fmt.Errorf("%w: host %q: %w", ErrInvalidReference, host, err)
		}
		if c.opts.UserAgent != "" {
			req.Header.Set("User-Agent", c.opts.UserAgent)
		}
		resp, err := c.probeRT.RoundTrip(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil
	}
	httpsErr := get("https")
	if httpsErr == nil {
		c.probes.set(host, false)
		return false, nil
	}
	if ctx.Err() != nil {
		return false, fmt.Errorf("ocistore: probing %s: %w", host, httpsErr)
	}
	if httpErr := get("http"); httpErr != nil {
		return false, fmt.Errorf("ocistore: probing %s: https: %w; http: %v", host, httpsErr, httpErr)
	}
	c.logger.Warn("registry speaks plain HTTP; using unencrypted http:// because TLS verification is disabled for it",
		"registry", host)
	c.probes.set(host, true)
	return true, nil
}

// Repository is NewClient(opts) followed by Client.Repository.
func Repository(ctx context.Context, ref Reference, opts Options) (*remote.Repository, error) {
	c, err := NewClient(opts)
	if err != nil {
		return nil, err
	}
	return c.Repository(ctx, ref)
}

// lastErrorWithOthers wraps the last error and mentions the others, so that
// Classify reports the kind of the final (origin) failure.
func lastErrorWithOthers(what string, tried []string, errs []error) error {
	if len(errs) == 0 {
		return errors.New("ocistore: " + what + ": no endpoint")
	}
	last := errs[len(errs)-1]
	if len(errs) == 1 {
		return fmt.Errorf("ocistore: %s via %s: %w", what, tried[0], last)
	}
	var b strings.Builder
	for i := range errs[:len(errs)-1] {
		fmt.Fprintf(&b, "; %s: %v", tried[i], errs[i])
	}
	return fmt.Errorf("ocistore: %s via %s: %w (also tried%s)", what, tried[len(tried)-1], last, b.String())
}
