package helm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/ocistore/retry"
)

// HTTPOptions configure access to a classic chart repository, with the
// settings helm repo add takes.
type HTTPOptions struct {
	// Username and Password, when Username is set, are sent as HTTP basic
	// auth to the repository's host (helm repo add --username/--password).
	Username, Password string
	// PassCredentialsAll sends them to chart URLs on other hosts too
	// (helm's --pass-credentials); by default they are not.
	PassCredentialsAll bool
	// CAFile is a PEM bundle of extra trusted roots (--ca-file).
	CAFile string
	// CertFile and KeyFile are a client certificate pair (--cert-file,
	// --key-file).
	CertFile, KeyFile string
	// InsecureSkipTLSVerify skips certificate verification
	// (--insecure-skip-tls-verify).
	InsecureSkipTLSVerify bool
	// UserAgent, when set, is sent with every request.
	UserAgent string
	// Transport, when set, is the innermost transport (proxy, dialer); its
	// TLS settings are replaced. Default: a clone of
	// http.DefaultTransport.
	Transport *http.Transport
	// Retry configures the retry policy wrapped around it.
	Retry retry.Options
}

// Repository is a classic HTTP chart repository: an index.yaml and chart
// archives, fetched through the project's retrying HTTP transport.
type Repository struct {
	// Name is the repository's name in the configuration.
	Name   string
	base   *url.URL // the repository URL, with user information removed
	opts   HTTPOptions
	limits Limits
	client *http.Client
}

// NewRepository returns a client for the chart repository at rawURL (http
// or https). User information in rawURL is used as basic auth unless
// opts.Username is set. Errors wrap [ErrInvalid].
func NewRepository(name, rawURL string, opts HTTPOptions, limits Limits) (*Repository, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: repository %q: %s is not an http or https URL with a host", ErrInvalid, name, redactString(rawURL))
	}
	if u.User != nil {
		if opts.Username == "" {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipTLSVerify} //nolint:gosec // only when asked for
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: repository %q: CA file: %v", ErrInvalid, name, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: repository %q: CA file %s holds no PEM certificate", ErrInvalid, name, opts.CAFile)
		}
		tc.RootCAs = pool
	}
	if opts.CertFile != "" || opts.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: repository %q: client certificate: %v", ErrInvalid, name, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = tc
	return &Repository{
		Name: name, base: u, opts: opts, limits: limits.withDefaults(),
		client: &http.Client{Transport: retry.NewTransport(t, opts.Retry)},
	}, nil
}

// URL returns the repository URL without credentials or query.
func (r *Repository) URL() string { return redact(r.base) }

// CloseIdleConnections releases idle connections.
func (r *Repository) CloseIdleConnections() { r.client.CloseIdleConnections() }

// resolve resolves a chart URL against the repository URL as helm does:
// the repository URL is a directory, and its query is kept for relative
// references.
func (r *Repository) resolve(ref string) (*url.URL, error) {
	base := *r.base
	base.Path = strings.TrimSuffix(base.Path, "/") + "/"
	base.RawPath = ""
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: chart URL %q: %v", ErrIndex, r.Name, redactString(ref), err)
	}
	abs := base.ResolveReference(u)
	if !u.IsAbs() && u.RawQuery == "" {
		abs.RawQuery = r.base.RawQuery
	}
	if abs.Scheme != "http" && abs.Scheme != "https" {
		return nil, fmt.Errorf("%w: repository %q: chart URL %s is not http or https", ErrIndex, r.Name, redact(abs))
	}
	abs.User = nil
	return abs, nil
}

// get fetches u, reading at most max bytes. A 404 or 410 returns
// (nil, false, nil) when missingOK.
func (r *Repository) get(ctx context.Context, u *url.URL, max int64, what string, missingOK bool) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("%w: repository %q: %s %s: %v", ErrFetch, r.Name, what, redact(u), err)
	}
	if r.opts.UserAgent != "" {
		req.Header.Set("User-Agent", r.opts.UserAgent)
	}
	if r.opts.Username != "" && (r.opts.PassCredentialsAll || strings.EqualFold(u.Host, r.base.Host)) {
		req.SetBasicAuth(r.opts.Username, r.opts.Password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("%w: repository %q: %s %s: %s", ErrFetch, r.Name, what, redact(u), retry.RedactText(err.Error()))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case missingOK && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone):
		return nil, false, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, false, fmt.Errorf("%w: repository %q: %s %s: %s (check the repository's username and password)", ErrFetch, r.Name, what, redact(u), resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, fmt.Errorf("%w: repository %q: %s %s: %s (check the repository URL)", ErrFetch, r.Name, what, redact(u), resp.Status)
	default:
		return nil, false, fmt.Errorf("%w: repository %q: %s %s: %s", ErrFetch, r.Name, what, redact(u), resp.Status)
	}
	if resp.ContentLength > max {
		return nil, false, fmt.Errorf("%w: repository %q: %s %s is %d bytes, over the limit of %d", ErrTooLarge, r.Name, what, redact(u), resp.ContentLength, max)
	}
	b, err := readBounded(resp.Body, max, what+" "+redact(u))
	if err != nil {
		return nil, false, fmt.Errorf("repository %q: %w", r.Name, err)
	}
	return b, true, nil
}

// Index fetches and parses the repository's index.yaml, decoding only the
// entries of the charts named (all if none is named).
func (r *Repository) Index(ctx context.Context, names ...string) (*Index, error) {
	u, err := r.resolve("index.yaml")
	if err != nil {
		return nil, err
	}
	b, _, err := r.get(ctx, u, r.limits.MaxIndexBytes, "index", false)
	if err != nil {
		return nil, err
	}
	idx, err := parseIndex(b, fmt.Sprintf("repository %q index %s", r.Name, redact(u)), r.limits, names)
	if err != nil {
		return nil, err
	}
	return idx, nil
}

// Fetch downloads the archive of cv and its provenance file (when the
// repository has one), checks the archive against the index digest when
// the index gives one, and checks that the archive's Chart.yaml names cv.
// Errors wrap [ErrFetch], [ErrDigest], [ErrTooLarge] or [ErrChart].
func (r *Repository) Fetch(ctx context.Context, cv *ChartVersion) (*Chart, error) {
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%w: repository %q: chart %s %s has no URL in the index", ErrIndex, r.Name, cv.Name, cv.Version)
	}
	u, err := r.resolve(cv.URLs[0])
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("chart %s %s", cv.Name, cv.Version)
	archive, _, err := r.get(ctx, u, r.limits.MaxChartBytes, what, false)
	if err != nil {
		return nil, err
	}
	got := digest.FromBytes(archive)
	if cv.Digest != "" {
		want := strings.ToLower(strings.TrimPrefix(cv.Digest, "sha256:"))
		if _, err := hex.DecodeString(want); err != nil || len(want) != 64 {
			return nil, fmt.Errorf("%w: repository %q: %s: index digest %q is not a sha256", ErrIndex, r.Name, what, cv.Digest)
		}
		if got.Encoded() != want {
			return nil, fmt.Errorf("%w: repository %q: %s from %s has sha256 %s, the index says %s (the repository changed or the download is damaged)", ErrDigest, r.Name, what, redact(u), got.Encoded(), want)
		}
	}
	pu := *u
	pu.Path += ".prov"
	pu.RawPath = ""
	prov, _, err := r.get(ctx, &pu, r.limits.MaxProvenanceBytes, what+" provenance", true)
	if err != nil {
		return nil, err
	}
	c, err := newChart(archive, SourceHTTP, redact(u), r.URL())
	if err != nil {
		return nil, err
	}
	if c.Name != cv.Name || c.Version != cv.Version {
		return nil, fmt.Errorf("%w: repository %q: %s: the archive's Chart.yaml says %s %s", ErrChart, r.Name, what, c.Name, c.Version)
	}
	c.Provenance = prov
	c.Created = cv.Created
	if c.Created.IsZero() {
		c.Created = chartYAMLTime(archive)
	}
	return c, nil
}

// Pull resolves version of chart name in the index (see [SelectVersion])
// and fetches it.
func (r *Repository) Pull(ctx context.Context, name, version string) (*Chart, error) {
	idx, err := r.Index(ctx, name)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		return nil, fmt.Errorf("repository %q (%s): %w", r.Name, r.URL(), err)
	}
	return r.Fetch(ctx, cv)
}
