package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/enclave-mirror/enclave/ocistore/retry"
)

// Product is the flavour of OpenShift a channel belongs to (the `type` of an
// ImageSetConfiguration channel).
type Product string

// Products.
const (
	ProductOCP Product = "ocp"
	ProductOKD Product = "okd"
)

// Default update graph endpoints. OCPUpdateURL is what oc-mirror and clusters
// use. OKDUpdateURL is the upstream documented for OKD clusters
// (ClusterVersion spec.upstream in the OKD docs); oc-mirror v2 still names the
// retired origin-release.ci.openshift.org/graph.
const (
	OCPUpdateURL = "https://api.openshift.com/api/upgrades_info/v1/graph"
	OKDUpdateURL = "https://amd64.origin.releases.ci.openshift.org/graph"
	// EnvUpdateURL overrides the update graph URL, as with oc-mirror; inside
	// an air gap it points at an OpenShift Update Service.
	EnvUpdateURL = "UPDATE_URL_OVERRIDE"
)

// GraphClient fetches update graphs. It is safe for concurrent use.
type GraphClient struct {
	url      *url.URL
	client   *http.Client // retrying: see fetchClient
	maxBytes int64
	timeout  time.Duration
}

type graphOptions struct {
	fetchOptions
	url      string
	maxBytes int64
	timeout  time.Duration
}

// fetchOptions are what the graph and signature clients share: the HTTP
// client below the retries, the retry policy, and the environment.
type fetchOptions struct {
	client  *http.Client
	retries int
	backoff time.Duration
	getenv  func(string) string
}

func defaultFetchOptions() fetchOptions {
	return fetchOptions{retries: DefaultRetries, backoff: DefaultRetryBackoff, getenv: os.Getenv}
}

func (o *fetchOptions) setClient(c *http.Client) error {
	if c == nil {
		return fmt.Errorf("%w: nil HTTP client", ErrInvalidArgument)
	}
	o.client = c
	return nil
}

func (o *fetchOptions) setRetries(attempts int, backoff time.Duration) error {
	if attempts < 1 || attempts > 100 || backoff < 0 {
		return fmt.Errorf("%w: retries %d, backoff %v", ErrInvalidArgument, attempts, backoff)
	}
	o.retries, o.backoff = attempts, backoff
	return nil
}

// GraphOption configures a GraphClient.
type GraphOption func(*graphOptions) error

// WithUpdateURL sets the update graph URL (for a command-line flag); it wins
// over UPDATE_URL_OVERRIDE and the product default.
func WithUpdateURL(u string) GraphOption {
	return func(o *graphOptions) error { o.url = u; return nil }
}

// WithGraphHTTPClient sets the HTTP client (TLS roots, proxy). Its Timeout,
// if any, applies on top of WithGraphTimeout.
func WithGraphHTTPClient(c *http.Client) GraphOption {
	return func(o *graphOptions) error { return o.setClient(c) }
}

// WithMaxGraphBytes caps one answer (default DefaultMaxGraphBytes).
func WithMaxGraphBytes(n int64) GraphOption {
	return func(o *graphOptions) error {
		if n <= 0 {
			return fmt.Errorf("%w: max graph bytes %d", ErrInvalidArgument, n)
		}
		o.maxBytes = n
		return nil
	}
}

// WithGraphTimeout bounds each request, its retries and its body included
// (default DefaultGraphTimeout).
func WithGraphTimeout(d time.Duration) GraphOption {
	return func(o *graphOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v", ErrInvalidArgument, d)
		}
		o.timeout = d
		return nil
	}
}

// WithGraphRetries sets the total number of attempts (>= 1) and the bound
// of the first backoff (doubling, with full jitter, capped at
// MaxRetryBackoff; a Retry-After header replaces it), as package
// ocistore/retry retries registry requests.
func WithGraphRetries(attempts int, backoff time.Duration) GraphOption {
	return func(o *graphOptions) error { return o.setRetries(attempts, backoff) }
}

// WithGetenv replaces os.Getenv for reading UPDATE_URL_OVERRIDE (tests,
// embedding).
func WithGetenv(f func(string) string) GraphOption {
	return func(o *graphOptions) error { o.getenv = f; return nil }
}

// NewGraphClient returns a client for product's update graph. The URL is,
// in order: WithUpdateURL, $UPDATE_URL_OVERRIDE, the product default.
func NewGraphClient(product Product, opts ...GraphOption) (*GraphClient, error) {
	o := graphOptions{fetchOptions: defaultFetchOptions(), maxBytes: DefaultMaxGraphBytes, timeout: DefaultGraphTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	raw := o.url
	if raw == "" {
		raw = o.getenv(EnvUpdateURL)
	}
	if raw == "" {
		switch product {
		case ProductOCP, "":
			raw = OCPUpdateURL
		case ProductOKD:
			raw = OKDUpdateURL
		default:
			return nil, fmt.Errorf("%w: unknown product %q (want ocp or okd)", ErrInvalidArgument, product)
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: update graph URL %q is not an http(s) URL", ErrInvalidArgument, retry.RedactString(raw))
	}
	return &GraphClient{url: u, client: fetchClient(o.client, o.retries, o.backoff),
		maxBytes: o.maxBytes, timeout: o.timeout}, nil
}

// URL returns the update graph URL in use, redacted (retry.Redact: no user
// information, query or fragment), as every message prints it.
func (c *GraphClient) URL() string { return retry.Redact(c.url) }

// Graph fetches and validates the graph of channel for arch.
func (c *GraphClient) Graph(ctx context.Context, channel string, arch Arch) (*Graph, error) {
	if channel == "" {
		return nil, fmt.Errorf("%w: empty channel name", ErrInvalidArgument)
	}
	if !arch.valid() {
		return nil, fmt.Errorf("%w: architecture %q", ErrInvalidArgument, arch)
	}
	u := *c.url
	q := u.Query()
	q.Set("channel", channel)
	q.Set("arch", string(arch))
	u.RawQuery = q.Encode()
	body, err := get(ctx, c.client, u.String(), "application/json", c.maxBytes, c.timeout)
	if err != nil {
		var se *statusError
		switch {
		case errors.As(err, &se), errors.Is(err, ErrTooLarge):
			return nil, fmt.Errorf("release: update service at %s: channel %s, arch %s: %w", c.URL(), channel, arch, err)
		case errors.Is(err, retry.ErrGaveUp) && !isConnError(err):
			return nil, fmt.Errorf("release: update service at %s kept failing: channel %s, arch %s: %w", c.URL(), channel, arch, err)
		}
		return nil, fmt.Errorf("release: update service at %s unreachable: %w; inside an air gap set %s to your OpenShift Update Service", c.URL(), err, EnvUpdateURL)
	}
	g, err := ParseGraph(body)
	if err != nil {
		return nil, fmt.Errorf("release: update service at %s: channel %s, arch %s: %w", c.URL(), channel, arch, err)
	}
	return g, nil
}

// statusError is a final (non-retryable, or retries exhausted) HTTP status.
type statusError struct {
	Status int
	Text   string
	Body   string
}

func (e *statusError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("HTTP %s: %s", e.Text, e.Body)
	}
	return "HTTP " + e.Text
}

// fetchClient returns base (a plain client when nil) retrying as package
// ocistore/retry retries registry requests: connection errors, 408, 429 and
// 5xx, attempts times in all, waits from backoff doubling up to
// MaxRetryBackoff, Retry-After honoured.
func fetchClient(base *http.Client, attempts int, backoff time.Duration) *http.Client {
	return retry.NewClient(base, retry.Options{MaxAttempts: attempts, BaseDelay: backoff, MaxDelay: MaxRetryBackoff})
}

// isConnError reports whether err (from fetchClient) ended with no HTTP
// answer at all: the server was never reached or never answered.
func isConnError(err error) bool {
	var ge *retry.GiveUpError
	if !errors.As(err, &ge) {
		return true
	}
	return ge.Err != nil
}

// get GETs rawURL with client (retrying underneath, see fetchClient) and
// returns at most max bytes of a 200 body; timeout bounds the whole
// request, retries and body included. Any other final status is a
// *statusError.
func get(ctx context.Context, client *http.Client, rawURL, accept string, max int64, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, retry.RedactError(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, retry.RedactError(err) // the *url.Error holds the whole URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &statusError{Status: resp.StatusCode, Text: resp.Status, Body: sanitize(string(snippet))}
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: answer of %d bytes, limit %d", ErrTooLarge, resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, retry.RedactError(err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%w: answer over %d bytes", ErrTooLarge, max)
	}
	return body, nil
}

// sanitize keeps a server's error text printable and short.
func sanitize(s string) string {
	b := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		if r < 0x20 || r == 0x7f {
			continue
		}
		b = append(b, r)
		if len(b) >= 200 {
			break
		}
	}
	return string(b)
}
