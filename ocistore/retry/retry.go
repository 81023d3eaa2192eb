package retry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults used for zero (or negative) Options fields.
const (
	// DefaultMaxAttempts is the number of attempts, the first included.
	DefaultMaxAttempts = 6
	// DefaultBaseDelay is the upper bound of the first jittered wait; it
	// doubles with every attempt.
	DefaultBaseDelay = 250 * time.Millisecond
	// DefaultMaxDelay caps a computed (not a Retry-After) wait.
	DefaultMaxDelay = 10 * time.Second
	// DefaultBudget bounds the time spent on one request, attempts and
	// waits together.
	DefaultBudget = 2 * time.Minute

	// refusedMaxAttempts bounds attempts after "connection refused".
	refusedMaxAttempts = 3
	// maxErrorBody bounds how much of a response body is read to look for
	// OCI error codes; distribution's error bodies are well below it.
	maxErrorBody = 64 << 10
	// drainBody bounds how much of a discarded response is read so the
	// connection can be reused.
	drainBody = 64 << 10
)

// ErrGaveUp is matched (errors.Is) by every error the transport returns
// after it stopped retrying.
var ErrGaveUp = errors.New("retry: gave up")

// Options configure a Transport. The zero value means the documented
// defaults.
type Options struct {
	// MaxAttempts is the number of attempts, the first one included;
	// 0 means DefaultMaxAttempts, 1 disables retries.
	MaxAttempts int
	// BaseDelay bounds the first wait; the bound doubles with every attempt
	// and each wait is drawn uniformly below it (full jitter). 0 means
	// DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps the bound of a computed wait. 0 means DefaultMaxDelay.
	MaxDelay time.Duration
	// Budget bounds the total time of one request, attempts and waits
	// together; no wait is begun that would end after it, and an attempt
	// of a request without a body that still has no response headers when
	// it is spent is cut (a request with a body, an upload, is bounded by
	// the timeouts of the transport below instead: it may rightly take
	// longer). 0 means DefaultBudget.
	Budget time.Duration
	// OnRetry, when set, is called before each wait. req is a copy of the
	// request without credentials headers, URL query or user information,
	// and without a body; attempt is the number of the attempt that failed
	// (1 for the first); reason says why (status and OCI codes, or the
	// error), and contains no secrets.
	OnRetry func(req *http.Request, attempt int, wait time.Duration, reason string)
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	return o
}

// Transport is a retrying http.RoundTripper. It is safe for concurrent use
// if its base is.
type Transport struct {
	base http.RoundTripper
	opts Options

	mu sync.Mutex
	// silent holds, per host, until when requests to it fail at once: a
	// host that answered nothing to a request for a whole budget is not
	// asked again for one more budget, so that every image that needs it
	// fails within about one budget instead of one budget per request.
	silent map[string]time.Time
}

// NewTransport returns a Transport retrying over base (http.DefaultTransport
// when nil).
func NewTransport(base http.RoundTripper, opts Options) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{base: base, opts: opts.withDefaults()}
}

// Attempt describes one failed attempt in a GiveUpError.
type Attempt struct {
	// Status is the response status, 0 after a transport error.
	Status int
	// Reason is the status with the OCI error codes, or the error text.
	Reason string
	// Wait is how long the transport waited after this attempt (0 for the
	// last one).
	Wait time.Duration
}

// GiveUpError is returned when the transport stops retrying a request that
// kept failing in a retryable way. It matches ErrGaveUp and, when the last
// attempt ended with a transport error, that error.
type GiveUpError struct {
	// Method and URL identify the request; URL has no query and no user
	// information.
	Method, URL string
	// Attempts lists every attempt made.
	Attempts []Attempt
	// Elapsed is the time spent on the request.
	Elapsed time.Duration
	// RetryAfter is set when the registry asked to be called again at a
	// time beyond the budget.
	RetryAfter time.Time
	// Codes are the OCI error codes of the last response, if any.
	Codes []string
	// Err is the transport error of the last attempt, if any.
	Err error
}

func (e *GiveUpError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "retry: %s %s: ", e.Method, e.URL)
	if !e.RetryAfter.IsZero() {
		fmt.Fprintf(&b, "registry asked to retry at %s (in %s), beyond the retry budget; ",
			e.RetryAfter.UTC().Format(time.RFC3339), time.Until(e.RetryAfter).Round(time.Second))
	}
	fmt.Fprintf(&b, "gave up after %d attempt(s) in %s:", len(e.Attempts), e.Elapsed.Round(time.Millisecond))
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " #%d %s", i+1, a.Reason)
	}
	return b.String()
}

// Unwrap returns ErrGaveUp and the last transport error.
func (e *GiveUpError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrGaveUp, e.Err}
	}
	return []error{ErrGaveUp}
}

// RoundTrip sends req, retrying as the package documentation describes.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	start := time.Now()
	deadline := start.Add(t.opts.Budget)
	if since, ok := t.silentSince(req.URL.Host, start); ok {
		return nil, &GiveUpError{Method: req.Method, URL: Redact(req.URL), Err: errBudget,
			Attempts: []Attempt{{Reason: fmt.Sprintf("not sent: %s answered nothing to another request for the whole retry budget of %s (it gave up %s ago); check the registry, or raise --retry-budget or --response-timeout",
				req.URL.Host, t.opts.Budget, start.Sub(since).Round(time.Second))}}}
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable || req.Method == http.MethodPatch || t.opts.MaxAttempts == 1 {
		resp, err, overBudget := t.attempt(req, deadline)
		if overBudget {
			t.markSilent(req.URL.Host)
			return nil, &GiveUpError{Method: req.Method, URL: Redact(req.URL), Elapsed: time.Since(start), Err: errBudget,
				Attempts: []Attempt{{Reason: "no answer within the retry budget of " + t.opts.Budget.String()}}}
		}
		return resp, err
	}

	var attempts []Attempt
	for n := 1; ; n++ {
		r := req
		if n > 1 {
			r = req.Clone(ctx)
			if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("retry: %s %s: replay body: %w", req.Method, Redact(req.URL), err)
				}
				r.Body = body
			}
		}
		resp, err, overBudget := t.attempt(r, deadline)
		if overBudget {
			t.markSilent(req.URL.Host)
			attempts = append(attempts, Attempt{Reason: "no answer within the retry budget of " + t.opts.Budget.String()})
			return nil, &GiveUpError{Method: req.Method, URL: Redact(req.URL), Attempts: attempts,
				Elapsed: time.Since(start), Err: errBudget}
		}
		d := t.classify(ctx, resp, err, n)
		if !d.retry {
			return resp, err
		}
		attempts = append(attempts, Attempt{Status: d.status, Reason: d.reason})
		giveUp := func(retryAfter time.Time) (*http.Response, error) {
			closeBody(resp)
			return nil, &GiveUpError{Method: req.Method, URL: Redact(req.URL), Attempts: attempts,
				Elapsed: time.Since(start), RetryAfter: retryAfter, Codes: d.codes, Err: err}
		}
		if n >= t.opts.MaxAttempts || d.refused && n >= refusedMaxAttempts {
			return giveUp(time.Time{})
		}
		var wait time.Duration
		var retryAfter time.Time
		if d.hasRetryAfter {
			retryAfter = d.retryAfter
			wait = time.Until(retryAfter)
			if wait < 0 {
				wait = 0
			}
		} else {
			wait = t.backoff(n)
		}
		if time.Now().Add(wait).After(deadline) {
			if d.hasRetryAfter {
				return giveUp(retryAfter)
			}
			return giveUp(time.Time{})
		}
		attempts[len(attempts)-1].Wait = wait
		closeBody(resp)
		if t.opts.OnRetry != nil {
			t.opts.OnRetry(sanitized(req), n, wait, d.reason)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("retry: %s %s: waiting after attempt %d (%s): %w",
				req.Method, Redact(req.URL), n, d.reason, err)
		}
	}
}

// markSilent records that host answered nothing for a whole budget.
func (t *Transport) markSilent(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.silent == nil {
		t.silent = map[string]time.Time{}
	}
	t.silent[host] = time.Now()
}

// silentSince reports when host was last found silent, if that was less
// than one budget before now.
func (t *Transport) silentSince(host string, now time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.silent[host]
	if !ok || now.Sub(at) >= t.opts.Budget {
		return time.Time{}, false
	}
	return at, true
}

// errBudget ends an attempt still without an answer when the budget is
// spent. It is a net.Error timeout.
var errBudget error = budgetError{}

type budgetError struct{}

func (budgetError) Error() string   { return "retry budget exhausted" }
func (budgetError) Timeout() bool   { return true }
func (budgetError) Temporary() bool { return false }

// attempt sends r once. A request without a body is cut at deadline if its
// response headers have not arrived by then (overBudget); one with a body
// is bounded by the timeouts of the transport below (a large upload may
// rightly take longer than the budget).
func (t *Transport) attempt(r *http.Request, deadline time.Time) (resp *http.Response, err error, overBudget bool) {
	if r.Body != nil && r.Body != http.NoBody {
		resp, err = t.base.RoundTrip(r)
		return resp, err, false
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	timer := time.AfterFunc(time.Until(deadline), func() { cancel(errBudget) })
	resp, err = t.base.RoundTrip(r.WithContext(ctx))
	if !timer.Stop() && err != nil && r.Context().Err() == nil {
		cancel(nil)
		return nil, err, true
	}
	if err != nil {
		cancel(nil)
		return nil, err, false
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil, false
}

// cancelOnClose releases an attempt's context with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}

// backoff returns the full-jitter wait after attempt n (1-based).
func (t *Transport) backoff(n int) time.Duration {
	return Backoff(t.opts.BaseDelay, t.opts.MaxDelay, n)
}

// Backoff is exponential backoff with full jitter: a random wait in
// [0, min(max, base * 2^(n-1))] after failure n (1-based). ocistore/upload
// uses it between resumed chunks.
func Backoff(base, max time.Duration, n int) time.Duration {
	bound := max
	if n-1 < 62 {
		if b := base << (n - 1); b > 0 && b < bound {
			bound = b
		}
	}
	return rand.N(bound + 1)
}

type decision struct {
	retry         bool
	refused       bool
	status        int
	reason        string
	codes         []string
	hasRetryAfter bool
	retryAfter    time.Time
}

// nonRetryableCodes are OCI error codes that no amount of waiting changes.
var nonRetryableCodes = map[string]bool{
	"DENIED":                true,
	"UNAUTHORIZED":          true,
	"MANIFEST_BLOB_UNKNOWN": true,
	"MANIFEST_INVALID":      true,
	"DIGEST_INVALID":        true,
	"SIZE_INVALID":          true,
	"NAME_UNKNOWN":          true,
}

func (t *Transport) classify(ctx context.Context, resp *http.Response, err error, n int) decision {
	if err != nil {
		if ctx.Err() != nil {
			return decision{}
		}
		switch {
		case errors.Is(err, ErrBodySource):
			return decision{} // not the network's fault: sending again reads the same source
		case errors.Is(err, syscall.ECONNREFUSED):
			return decision{retry: true, refused: true, reason: "connection refused"}
		case isTLSError(err):
			return decision{}
		case errors.Is(err, syscall.ECONNRESET):
			return decision{retry: true, reason: "connection reset"}
		case errors.Is(err, syscall.EPIPE):
			return decision{retry: true, reason: "broken pipe"}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return decision{retry: true, reason: "connection closed (EOF)"}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return decision{retry: true, reason: "timeout (" + timeoutText(err) + ")"}
		}
		var oe *net.OpError
		if errors.As(err, &oe) {
			return decision{retry: true, reason: "network error: " + oe.Op}
		}
		return decision{}
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return decision{}
	}
	codes := peekCodes(resp)
	for _, c := range codes {
		if nonRetryableCodes[c] {
			return decision{}
		}
	}
	d := decision{retry: true, status: resp.StatusCode, codes: codes}
	d.reason = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	if len(codes) > 0 {
		d.reason += " [" + strings.Join(codes, ",") + "]"
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if at, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			d.hasRetryAfter, d.retryAfter = true, at
			d.reason += " (Retry-After " + at.UTC().Format(time.RFC3339) + ")"
		}
	}
	return d
}

// timeoutText says which timeout ended an attempt: the text of the error
// below the *url.Error (which repeats the URL), redacted and short.
func timeoutText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	s := RedactText(err.Error())
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

func isTLSError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		rh tls.RecordHeaderError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &rh) || errors.As(err, &ua) ||
		errors.As(err, &he) || errors.As(err, &ci)
}

// parseRetryAfter parses delta-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return time.Time{}, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second) // stays far beyond any budget
		}
		return now.Add(time.Duration(secs) * time.Second), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return at, true
	}
	return time.Time{}, false
}

// peekCodes reads the start of resp's body, returns the OCI error codes it
// carries and leaves the body readable from the start.
func peekCodes(resp *http.Response) []string {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), errReader{err}, resp.Body), resp.Body}
	return ErrorCodes(head)
}

// errReader returns err (nil: io.EOF, so MultiReader moves on).
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// ErrorCodes returns the codes of a distribution-spec error body
// ({"errors":[{"code":...}]}), or nil when body is not one.
func ErrorCodes(body []byte) []string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return nil
	}
	var codes []string
	for _, x := range e.Errors {
		if x.Code != "" && len(x.Code) <= 64 {
			codes = append(codes, x.Code)
		}
	}
	return codes
}

// Redaction: the one rule for every URL that reaches an error, a log
// record or the screen. A URL is printed as scheme://host/path: its user
// information (user:password@), query (?token=..., upload _state=...) and
// fragment are dropped. Redact applies it to a *url.URL, RedactString to a
// URL held as a string, RedactText to the URLs inside a message, and
// RedactError to an error's text.

// Redact returns u as scheme://host/path: no user information, query or
// fragment.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}

// RedactString is Redact for a URL held as a string. What does not parse
// as a URL with a host goes through RedactText (and is never echoed whole).
func RedactString(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return Redact(u)
	}
	return RedactText(raw)
}

// RedactError returns err with its text passed through RedactText; it
// unwraps to err. nil stays nil, and an error without URLs to redact is
// returned as it is.
func RedactError(err error) error {
	if err == nil || RedactText(err.Error()) == err.Error() {
		return err
	}
	return redactedError{err}
}

// redactedError is an error whose text goes through RedactText.
type redactedError struct{ err error }

func (e redactedError) Error() string { return RedactText(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// ErrBodySource marks an error of a request body's own source (a damaged or
// unreadable archive, an EIO), which the transport passes on as a network
// error: wrapped in it, the request is not sent again.
var ErrBodySource = errors.New("the request body's source failed")

// urlInText is an http(s) URL in a message: its scheme, user info, host
// and path, then its query or fragment.
var urlInText = regexp.MustCompile(`(?i)\b(https?://)(?:[^\s"'/@?#]*@)?([^\s"'?#]*)(?:[?#][^\s"']*)?`)

// RedactText drops the query, fragment and user info of every URL in s:
// for messages that already hold URLs as text (oras-go's auth client
// writes the request URL into its errors), where Redact cannot reach.
func RedactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllString(s, "$1$2")
}

// sensitiveHeaders never reach OnRetry.
var sensitiveHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

func sanitized(req *http.Request) *http.Request {
	r := req.Clone(req.Context())
	for _, h := range sensitiveHeaders {
		r.Header.Del(h)
	}
	r.URL.User = nil
	r.URL.RawQuery = ""
	r.URL.ForceQuery = false
	r.URL.Fragment, r.URL.RawFragment = "", ""
	r.RequestURI = ""
	r.Body, r.GetBody = nil, nil
	return r
}

func closeBody(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, drainBody))
	resp.Body.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewClient returns a copy of base (an empty client when nil) whose
// transport is a Transport over base's: one retry policy for every HTTP
// fetch enclave makes outside the registry protocol (update graphs, release
// signatures, graph data, chart repositories). base's Timeout, redirect
// policy and cookie jar are kept.
func NewClient(base *http.Client, opts Options) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	c.Transport = NewTransport(c.Transport, opts)
	return c
}
