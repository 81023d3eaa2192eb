package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-mirror/enclave/ocistore/retry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Defaults used for zero (or negative) Options fields.
const (
	// DefaultChunkSize is the PATCH body size. Each PATCH costs a round
	// trip the body waits for (the registry answers after storing the
	// chunk): a 2 GiB layer went up at 182 MB/s in 16 MiB chunks and
	// 206 MB/s in 64 MiB ones, against 254-311 MB/s for one monolithic PUT
	// (make bench, 2026-12-01). 64 MiB stays above the 5 MiB part minimum
	// of S3-backed registries, is a multiple of GCS's 256 KiB granularity,
	// bounds what one drop loses to a fraction of a second, and costs no
	// memory: bodies stream. A registry (or its proxy) that refuses a body
	// this large with 413 gets halved chunks, down to MinChunkSize.
	DefaultChunkSize = 64 << 20
	// MinChunkSize is the smallest PATCH body halving on 413 goes to.
	MinChunkSize = 1 << 20
	// DefaultMaxFailures is how many failed rounds in a row (a failed PATCH
	// or status request) Push tolerates without progress.
	DefaultMaxFailures = 5
	// DefaultMaxSessions is how many upload sessions Push starts for one
	// blob when the registry forgets them.
	DefaultMaxSessions = 3
	// DefaultBaseDelay and DefaultMaxDelay bound the jittered wait before a
	// resume: the bound starts at DefaultBaseDelay and doubles up to
	// DefaultMaxDelay.
	DefaultBaseDelay = 250 * time.Millisecond
	DefaultMaxDelay  = 10 * time.Second

	// maxErrorBody bounds how much of an error response is read.
	maxErrorBody = 64 << 10
	// maxDetail bounds the registry message quoted in an error.
	maxDetail = 200
)

var (
	// ErrDigestMismatch means the registry stored the blob under another
	// digest than the descriptor's.
	ErrDigestMismatch = errors.New("upload: registry reports a different digest")
	// ErrShortSource means the opener's reader ended before the descriptor's
	// size.
	ErrShortSource = errors.New("upload: source shorter than descriptor size")
	// ErrGaveUp means Push stopped after too many failures in a row or too
	// many forgotten sessions.
	ErrGaveUp = errors.New("upload: gave up")

	// errExpired and errUnsupported steer Push between its strategies.
	errExpired     = errors.New("upload session unknown to the registry")
	errUnsupported = errors.New("registry does not support chunked upload")
)

// Doer sends a request. *http.Client and oras-go's *auth.Client satisfy it;
// with an auth.Client, requests get credentials and refreshed tokens.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Opener returns the blob's content starting at offset. Push calls it once
// per request body (each chunk, each replay), so it should be cheap, for
// example an io.NewSectionReader over an io.ReaderAt.
type Opener func(offset int64) (io.ReadCloser, error)

// Options configure Push. The zero value means the documented defaults.
type Options struct {
	// ChunkSize is the size of each PATCH body; 0 means DefaultChunkSize.
	// A larger OCI-Chunk-Min-Length announced by the registry wins.
	ChunkSize int64
	// MaxFailures is how many failed rounds in a row are tolerated; 0 means
	// DefaultMaxFailures.
	MaxFailures int
	// MaxSessions is how many upload sessions are started at most; 0 means
	// DefaultMaxSessions.
	MaxSessions int
	// BaseDelay and MaxDelay bound the waits before resuming; 0 means
	// DefaultBaseDelay and DefaultMaxDelay.
	BaseDelay, MaxDelay time.Duration
	// Logf, when set, receives one line per resume, new session and fall
	// back. Lines carry no credentials and no URL query.
	Logf func(format string, args ...any)
	// Monolithic sends the blob in one PUT right after opening the session
	// (two requests instead of three or more), for blobs so small that a
	// resume would save little. Unlike oras-go's blob push, whose PUT reuses
	// the POST's Authorization header and so cannot be refreshed, the PUT
	// goes through the Doer with a replayable body: a token that expired
	// after the POST is refreshed and the PUT sent again.
	Monolithic bool
}

func (o Options) withDefaults() Options {
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Result says how a Push went.
type Result struct {
	// Chunked is false when the blob went up in one monolithic PUT.
	Chunked bool
	// Chunks is the number of PATCH requests the registry accepted.
	Chunks int
	// Resumes is the number of times the upload continued from the offset
	// the registry reported after a failure.
	Resumes int
	// Sessions is the number of upload sessions started.
	Sessions int
	// BytesSent is the number of blob bytes handed to the client, replays
	// and resends included.
	BytesSent int64
}

// RegistryError is an unexpected registry response.
type RegistryError struct {
	// Op says what Push or Mount was doing.
	Op string
	// Method and URL identify the request; URL has no query.
	Method, URL string
	// Status is the response status.
	Status int
	// Codes are the OCI error codes of the response body.
	Codes []string
	// Detail is the first error message of the body, shortened.
	Detail string
	// resp is the same answer as oras-go reports it, so that callers
	// classifying oras-go's errors (errors.As) treat both alike.
	resp *errcode.ErrorResponse
}

// Unwrap returns the answer as an *errcode.ErrorResponse (its URL without
// the query).
func (e *RegistryError) Unwrap() error { return e.resp }

func (e *RegistryError) Error() string {
	s := fmt.Sprintf("upload: %s: %s %s: %d %s", e.Op, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if len(e.Codes) > 0 {
		s += " [" + strings.Join(e.Codes, ",") + "]"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func registryError(op string, resp *http.Response) *RegistryError {
	e := &RegistryError{Op: op, Method: resp.Request.Method, URL: retry.Redact(resp.Request.URL), Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var oe struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	u := *resp.Request.URL
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	e.resp = &errcode.ErrorResponse{Method: e.Method, URL: &u, StatusCode: e.Status}
	if json.Unmarshal(body, &oe) == nil {
		for _, x := range oe.Errors {
			e.resp.Errors = append(e.resp.Errors, errcode.Error{Code: x.Code, Message: x.Message})
			if x.Code != "" {
				e.Codes = append(e.Codes, shorten(x.Code, 64))
			}
			if e.Detail == "" && x.Message != "" {
				e.Detail = shorten(x.Message, maxDetail)
			}
		}
	}
	return e
}

func shorten(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// endpoint is a validated registry, repository and blob.
type endpoint struct {
	client Doer
	base   *url.URL
	ref    registry.Reference
	desc   ocispec.Descriptor
}

func newEndpoint(client Doer, baseURL, repository string, desc ocispec.Descriptor) (*endpoint, error) {
	if client == nil {
		return nil, errors.New("upload: nil client")
	}
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("upload: base URL: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" || base.User != nil ||
		(base.Path != "" && base.Path != "/") || base.RawQuery != "" {
		return nil, fmt.Errorf("upload: base URL %q: want http(s)://host[:port]", retry.Redact(base))
	}
	ref := registry.Reference{Registry: base.Host, Repository: repository}
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("upload: descriptor digest: %w", err)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("upload: descriptor size %d is negative", desc.Size)
	}
	return &endpoint{client: client, base: &url.URL{Scheme: base.Scheme, Host: base.Host}, ref: ref, desc: desc}, nil
}

func (e *endpoint) url(path string) *url.URL {
	return e.base.ResolveReference(&url.URL{Path: "/v2/" + e.ref.Repository + path})
}

// location resolves the Location header of resp, refusing one that leaves
// the registry's host or downgrades https (credentials would follow it).
func (e *endpoint) location(op string, resp *http.Response, prev *url.URL) (*url.URL, error) {
	v := resp.Header.Get("Location")
	if v == "" {
		if prev != nil {
			return prev, nil
		}
		return nil, fmt.Errorf("upload: %s: %d response without Location", op, resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("upload: %s: bad Location: %w", op, err)
	}
	if !sameHost(u, e.base) {
		return nil, fmt.Errorf("upload: %s: Location on host %q, not the registry %q", op, u.Host, e.base.Host)
	}
	if e.base.Scheme == "https" && u.Scheme != "https" {
		return nil, fmt.Errorf("upload: %s: Location downgrades https to %s", op, u.Scheme)
	}
	return u, nil
}

func sameHost(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// verify checks the digest the registry reports for the finished blob, or
// asks for the blob when it reports none.
func (e *endpoint) verify(ctx context.Context, resp *http.Response) error {
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" {
		if got != e.desc.Digest.String() {
			return fmt.Errorf("%w: want %s, registry has %s", ErrDigestMismatch, e.desc.Digest, shorten(got, 100))
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, e.url("/blobs/"+e.desc.Digest.String()).String(), nil)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	hr, err := e.client.Do(req)
	if err != nil {
		return doErr("check blob "+e.desc.Digest.String(), err)
	}
	defer hr.Body.Close()
	if hr.StatusCode != http.StatusOK {
		return registryError("check blob "+e.desc.Digest.String(), hr)
	}
	if hr.ContentLength >= 0 && hr.ContentLength != e.desc.Size {
		return fmt.Errorf("upload: registry has blob %s with %d bytes, want %d", e.desc.Digest, hr.ContentLength, e.desc.Size)
	}
	return nil
}

// Mount asks the registry to link the blob desc from repository from into
// repository, without sending it. It reports true when the registry mounted
// it (201). A registry that cannot mount answers 202 with a new upload
// session; Mount cancels that session and reports false, and the caller
// pushes the blob.
func Mount(ctx context.Context, client Doer, baseURL, repository, from string, desc ocispec.Descriptor) (bool, error) {
	e, err := newEndpoint(client, baseURL, repository, desc)
	if err != nil {
		return false, err
	}
	fromRef := registry.Reference{Registry: e.base.Host, Repository: from}
	if err := fromRef.ValidateRepository(); err != nil {
		return false, fmt.Errorf("upload: mount source: %w", err)
	}
	ctx = auth.AppendRepositoryScope(ctx, e.ref, auth.ActionPull, auth.ActionPush)
	ctx = auth.AppendRepositoryScope(ctx, fromRef, auth.ActionPull)
	u := e.url("/blobs/uploads/")
	u.RawQuery = url.Values{"mount": {desc.Digest.String()}, "from": {from}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return false, fmt.Errorf("upload: %w", err)
	}
	op := "mount " + desc.Digest.String() + " from " + from
	resp, err := client.Do(req)
	if err != nil {
		return false, doErr(op, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, e.verify(ctx, resp)
	case http.StatusAccepted:
		if loc, err := e.location(op, resp, nil); err == nil {
			cancelSession(ctx, client, loc)
		}
		return false, nil
	}
	return false, registryError(op, resp)
}

// cancelSession deletes an upload session the caller will not use; failure
// is harmless (registries purge stale sessions).
func cancelSession(ctx context.Context, client Doer, loc *url.URL) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil)
	if err != nil {
		return
	}
	if resp, err := client.Do(req); err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}
}

// Push uploads the blob desc to repository of the registry at baseURL
// (scheme and host) in chunks, reading it through open, and resumes from the
// registry's offset after a failure. See the package documentation.
func Push(ctx context.Context, client Doer, baseURL, repository string, desc ocispec.Descriptor, open Opener, opts Options) (Result, error) {
	e, err := newEndpoint(client, baseURL, repository, desc)
	if err != nil {
		return Result{}, err
	}
	if open == nil {
		return Result{}, errors.New("upload: nil opener")
	}
	p := &pusher{endpoint: e, open: open, opts: opts.withDefaults()}
	ctx = auth.AppendRepositoryScope(ctx, e.ref, auth.ActionPull, auth.ActionPush)
	if opts.Monolithic {
		err = p.monolithic(ctx)
	} else {
		err = p.run(ctx)
	}
	p.res.BytesSent = p.sent.Load()
	return p.res, err
}

type pusher struct {
	*endpoint
	open Opener
	opts Options
	res  Result
	sent atomic.Int64
	// minChunk is the smallest PATCH body: MinChunkSize, or the registry's
	// OCI-Chunk-Min-Length when larger.
	minChunk int64
	// srcErr is the first error of the source (open or read), sticky: a
	// failing source is not a network failure, and no request is retried
	// or resumed after it.
	srcMu  sync.Mutex
	srcErr error
}

func (p *pusher) sourceFailed(err error) {
	p.srcMu.Lock()
	defer p.srcMu.Unlock()
	if p.srcErr == nil {
		p.srcErr = err
	}
}

func (p *pusher) sourceErr() error {
	p.srcMu.Lock()
	defer p.srcMu.Unlock()
	return p.srcErr
}

func (p *pusher) run(ctx context.Context) error {
	for {
		if p.res.Sessions >= p.opts.MaxSessions {
			return fmt.Errorf("%w: %s: %d upload sessions were forgotten by the registry", ErrGaveUp, p.desc.Digest, p.res.Sessions)
		}
		loc, chunk, err := p.start(ctx)
		if err != nil {
			return err
		}
		p.res.Chunked = true
		loc, err = p.chunks(ctx, loc, chunk)
		if err == nil {
			err = p.finish(ctx, loc)
		}
		switch {
		case errors.Is(err, errExpired):
			p.opts.Logf("upload: %s: %v; starting a new upload session", p.desc.Digest, err)
			continue
		case errors.Is(err, errUnsupported):
			p.opts.Logf("upload: %s: %v; falling back to one monolithic PUT of %d bytes", p.desc.Digest, err, p.desc.Size)
			return p.monolithic(ctx)
		}
		return err
	}
}

// start opens an upload session and returns its location and the chunk
// size to use.
func (p *pusher) start(ctx context.Context) (*url.URL, int64, error) {
	p.res.Sessions++
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url("/blobs/uploads/").String(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("upload: %w", err)
	}
	const op = "start upload"
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, 0, doErr(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, 0, registryError(op, resp)
	}
	loc, err := p.location(op, resp, nil)
	if err != nil {
		return nil, 0, err
	}
	chunk := p.opts.ChunkSize
	p.minChunk = min(MinChunkSize, chunk)
	if v, err := strconv.ParseInt(resp.Header.Get("OCI-Chunk-Min-Length"), 10, 64); err == nil && v <= 1<<32 {
		chunk = max(chunk, v)
		p.minChunk = max(p.minChunk, v)
	}
	return loc, chunk, nil
}

// chunks sends the blob in PATCH requests from offset 0 and returns the
// location for the final PUT.
func (p *pusher) chunks(ctx context.Context, loc *url.URL, chunk int64) (*url.URL, error) {
	size := p.desc.Size
	var offset int64
	failures := 0
	accepted := 0 // PATCHes accepted in this session
	for offset < size {
		end := min(offset+chunk, size)
		op := fmt.Sprintf("PATCH bytes %d-%d of %s", offset, end-1, p.desc.Digest)
		resp, err := p.patch(ctx, loc, offset, end)
		if serr := p.sourceErr(); serr != nil {
			if err == nil {
				drain(resp)
			}
			// The session is abandoned: nothing of it is ever completed.
			cancelSession(ctx, p.client, loc)
			return nil, serr
		}
		var reason string
		switch {
		case err != nil:
			if ctx.Err() != nil || errors.Is(err, ErrShortSource) || authRefused(err) {
				return nil, doErr(op, err)
			}
			reason = "connection error: " + errText(err)
		case resp.StatusCode == http.StatusAccepted:
			next, lerr := p.location(op, resp, loc)
			last, ok := parseRange(resp.Header.Get("Range"))
			drain(resp)
			if lerr != nil {
				return nil, lerr
			}
			loc = next
			if ok && last+1 > offset && last+1 <= end {
				offset = last + 1
			} else {
				offset = end
			}
			failures = 0
			accepted++
			p.res.Chunks++
			continue
		case resp.StatusCode == http.StatusNotFound:
			drain(resp)
			return nil, fmt.Errorf("%s: %w", op, errExpired)
		case (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable) &&
			offset == 0 && accepted == 0:
			drain(resp)
			return nil, fmt.Errorf("%d on the first PATCH: %w", resp.StatusCode, errUnsupported)
		case resp.StatusCode == http.StatusRequestEntityTooLarge && end-offset > p.minChunk:
			// Nothing of a refused body is kept: the same offset again,
			// in halves (not a failure: halving ends).
			drain(resp)
			chunk = max((end-offset)/2, p.minChunk)
			p.opts.Logf("upload: %s: the registry refuses a PATCH of %d bytes (413); chunks of %d bytes from offset %d", p.desc.Digest, end-offset, chunk, offset)
			continue
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable || retryableStatus(resp.StatusCode):
			reason = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
			drain(resp)
		default:
			e := registryError(op, resp)
			resp.Body.Close()
			return nil, e
		}

		failures++
		if failures > p.opts.MaxFailures {
			return nil, fmt.Errorf("%w: %s at offset %d of %d after %d failures in a row (last: %s)%w",
				ErrGaveUp, p.desc.Digest, offset, size, failures, reason, cause(err))
		}
		if err := p.wait(ctx, failures); err != nil {
			return nil, fmt.Errorf("upload: %s: %w", op, err)
		}
		got, next, err := p.status(ctx, loc)
		if err != nil {
			if errors.Is(err, errExpired) || errors.Is(err, errUnsupported) || ctx.Err() != nil || authRefused(err) {
				return nil, err
			}
			p.opts.Logf("upload: %s: upload status failed after %s: %v", p.desc.Digest, reason, err)
			continue // counted as part of this failed round
		}
		if got > size {
			return nil, fmt.Errorf("upload: %s: registry reports %d bytes, more than the blob's %d", p.desc.Digest, got, size)
		}
		p.opts.Logf("upload: %s: %s at offset %d; registry has %d of %d bytes, resuming there", p.desc.Digest, reason, offset, got, size)
		offset, loc = got, next
		p.res.Resumes++
	}
	return loc, nil
}

// authRefused reports whether err is the auth client's failure to get a
// token (the token endpoint answered 401 or 403: credentials wrong or
// withdrawn). Asking again will not change that answer.
func authRefused(err error) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden)
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (p *pusher) patch(ctx context.Context, loc *url.URL, start, end int64) (*http.Response, error) {
	req, err := p.bodyRequest(ctx, http.MethodPatch, loc.String(), start, end)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, end-1))
	return p.client.Do(req)
}

// bodyRequest builds a request whose body is bytes [start, end) of the blob,
// replayable through GetBody (the auth client resends after a 401).
func (p *pusher) bodyRequest(ctx context.Context, method, u string, start, end int64) (*http.Request, error) {
	getBody := func() (io.ReadCloser, error) {
		if err := p.sourceErr(); err != nil {
			return nil, err
		}
		if start == end {
			return http.NoBody, nil
		}
		rc, err := p.open(start)
		if err != nil {
			err = fmt.Errorf("upload: open source at offset %d: %w", start, err)
			p.sourceFailed(err)
			return nil, err
		}
		return &sectionBody{rc: rc, left: end - start, start: start, sent: &p.sent, fail: p.sourceFailed}, nil
	}
	body, err := getBody()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		body.Close()
		return nil, fmt.Errorf("upload: %w", err)
	}
	req.GetBody = getBody
	req.ContentLength = end - start
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// sectionBody yields exactly left bytes of rc and counts them; a source
// that ends early is an error, not a short body.
type sectionBody struct {
	rc    io.ReadCloser
	left  int64
	start int64
	read  int64
	sent  *atomic.Int64
	fail  func(error) // records a source error
}

func (b *sectionBody) Read(q []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(q)) > b.left {
		q = q[:b.left]
	}
	n, err := b.rc.Read(q)
	b.left -= int64(n)
	b.read += int64(n)
	b.sent.Add(int64(n))
	if err == io.EOF && b.left > 0 {
		err = fmt.Errorf("%w: ended at offset %d", ErrShortSource, b.start+b.read)
		b.fail(err)
		return n, sourceError{err}
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("upload: read source at offset %d: %w", b.start+b.read, err)
		b.fail(err)
		return n, sourceError{err}
	}
	if err == io.EOF {
		err = nil
		if b.left == 0 {
			err = io.EOF
		}
	}
	return n, err
}

func (b *sectionBody) Close() error { return b.rc.Close() }

// sourceError is a source's error as the body reports it to the transport:
// marked so that the retry transport does not send the request again.
type sourceError struct{ err error }

func (e sourceError) Error() string   { return e.err.Error() }
func (e sourceError) Unwrap() []error { return []error{e.err, retry.ErrBodySource} }

// status asks the registry how much of the upload it has and returns the
// offset to continue from and the location to continue at.
func (p *pusher) status(ctx context.Context, loc *url.URL) (int64, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("upload: %w", err)
	}
	const op = "upload status"
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, doErr(op, err)
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return 0, nil, fmt.Errorf("%s: 404: %w", op, errExpired)
	case resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented:
		return 0, nil, fmt.Errorf("%s: %d: %w", op, resp.StatusCode, errUnsupported)
	case resp.StatusCode/100 != 2:
		return 0, nil, registryError(op, resp)
	}
	next, err := p.location(op, resp, loc)
	if err != nil {
		return 0, nil, err
	}
	last, ok := parseRange(resp.Header.Get("Range"))
	if !ok {
		return 0, next, nil
	}
	// distribution answers "0-0" both for nothing and for one byte; taking
	// it as nothing is safe (a mismatch is answered with 416, and retried).
	if last == 0 {
		return 0, next, nil
	}
	return last + 1, next, nil
}

// parseRange parses "0-<last>" (optionally "bytes=0-<last>").
func parseRange(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes=")
	first, last, ok := strings.Cut(v, "-")
	if !ok || first != "0" {
		return 0, false
	}
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// finish closes the session with PUT <location>?digest=<digest>.
func (p *pusher) finish(ctx context.Context, loc *url.URL) error {
	u := withDigest(loc, p.desc.Digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), http.NoBody)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	op := "complete upload of " + p.desc.Digest.String()
	resp, err := p.client.Do(req)
	if err != nil {
		return doErr(op, err)
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusCreated:
		return p.verify(ctx, resp)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", op, errExpired)
	}
	return registryError(op, resp)
}

// monolithic uploads the blob with one PUT in a new session.
func (p *pusher) monolithic(ctx context.Context) error {
	p.res.Chunked = false
	op := "monolithic upload of " + p.desc.Digest.String()
	for failures := 1; ; failures++ {
		loc, _, err := p.start(ctx)
		if err != nil {
			return err
		}
		req, err := p.bodyRequest(ctx, http.MethodPut, withDigest(loc, p.desc.Digest).String(), 0, p.desc.Size)
		if err != nil {
			return err
		}
		resp, err := p.client.Do(req)
		if serr := p.sourceErr(); serr != nil {
			if err == nil {
				drain(resp)
			}
			// The session is abandoned: nothing of it is ever completed.
			cancelSession(ctx, p.client, loc)
			return serr
		}
		var reason string
		switch {
		case err != nil:
			if ctx.Err() != nil || authRefused(err) {
				return doErr(op, err)
			}
			reason = "connection error: " + errText(err)
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			// The retry transport sent the PUT again into a session that
			// kept part of the dropped attempt.
			drain(resp)
			reason = "416: the session holds part of an interrupted attempt"
		default:
			defer drain(resp)
			if resp.StatusCode != http.StatusCreated {
				return registryError(op, resp)
			}
			return p.verify(ctx, resp)
		}
		// Statuses the retry transport gave up on, and refused tokens, end
		// the upload above; a dropped connection starts a new session,
		// since the old one may hold part of the body.
		if failures > p.opts.MaxFailures {
			return fmt.Errorf("%w: %s after %d failed uploads (last: %s)%w", ErrGaveUp, p.desc.Digest, failures, reason, cause(err))
		}
		p.opts.Logf("upload: %s: %s; starting again in a new session", p.desc.Digest, reason)
		cancelSession(ctx, p.client, loc)
		if err := p.wait(ctx, failures); err != nil {
			return fmt.Errorf("upload: %s: %w", op, err)
		}
	}
}

// withDigest appends digest=<d> to the location's query, keeping the
// registry's own parameters as they are.
func withDigest(loc *url.URL, d digest.Digest) *url.URL {
	u := *loc
	q := "digest=" + url.QueryEscape(d.String())
	if u.RawQuery != "" {
		u.RawQuery += "&" + q
	} else {
		u.RawQuery = q
	}
	return &u
}

func (p *pusher) wait(ctx context.Context, failures int) error {
	t := time.NewTimer(retry.Backoff(p.opts.BaseDelay, p.opts.MaxDelay, failures))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}

// doErr wraps a client error for op, keeping the URL query (upload state,
// signatures) out of the message.
func doErr(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		where := "request"
		if perr == nil {
			where = ue.Op + " " + retry.Redact(u)
		}
		return fmt.Errorf("upload: %s: %s: %w", op, where, ue.Err)
	}
	return textRedacted{"upload: " + op + ": " + retry.RedactText(err.Error()), err}
}

// textRedacted is an error whose message had the queries and user info of
// its URLs dropped (oras-go's auth client writes the request URL, upload
// state included, into its errors); it unwraps to the original.
type textRedacted struct {
	msg string
	err error
}

func (e textRedacted) Error() string { return e.msg }
func (e textRedacted) Unwrap() error { return e.err }

// errText describes a client error without its URL.
// cause keeps err (the last connection error of an upload that gave up)
// in the chain without repeating its text, which the message already
// gives shortened: errors.Is and errors.As still find a timeout or a
// refused connection in it, so it is classified as a network failure.
func cause(err error) error {
	if err == nil {
		return silent{}
	}
	return silent{err}
}

type silent struct{ err error }

func (silent) Error() string   { return "" }
func (s silent) Unwrap() error { return s.err }

func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return shorten(retry.RedactText(err.Error()), maxDetail)
}
