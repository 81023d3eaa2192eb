package ocistore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/enclave-mirror/enclave/ocistore/retry"
)

// Default timeouts: see Timeouts. The total of a request without a body
// (attempts and the waits between them) is bounded by retry.DefaultBudget.
const (
	// DefaultConnectTimeout bounds a TCP connect, and separately a TLS
	// handshake.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultResponseTimeout bounds the wait for a response's headers once
	// the request (its body included) was sent. It is generous: a registry
	// may take a while to commit a large blob after its last byte.
	DefaultResponseTimeout = 2 * time.Minute
	// DefaultStallTimeout is the window over which a body's progress is
	// measured: see StallMinRate.
	DefaultStallTimeout = 60 * time.Second
	// StallMinRate is the slowest a body may move, in bytes per second of
	// waiting on the peer, averaged over the stall timeout (and at least
	// 1 KiB per window): a peer that stops, or trickles fewer bytes, is
	// stalled.
	StallMinRate = 1024
)

// ErrStalled is matched (errors.Is) by the error of a request or a body
// that moved slower than StallMinRate over the stall timeout.
var ErrStalled = errors.New("ocistore: transfer stalled")

// Timeouts bound each network operation of one attempt. Zero fields take
// the defaults; the total of a request is bounded by the retry budget
// (retry.Options.Budget) of the transport WrapTransport adds.
type Timeouts struct {
	// Connect bounds a TCP connect, and separately a TLS handshake.
	// Default DefaultConnectTimeout.
	Connect time.Duration
	// Response bounds the wait for response headers after the request was
	// sent. Default DefaultResponseTimeout.
	Response time.Duration
	// Stall fails a request body or a response body that moves less than
	// StallMinRate bytes per second (and less than 1 KiB) over this much
	// time spent waiting on the peer (time the caller spends between reads
	// of a response body, or reading a request body's source, does not
	// count). Default DefaultStallTimeout.
	Stall time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultConnectTimeout
	}
	if t.Response <= 0 {
		t.Response = DefaultResponseTimeout
	}
	if t.Stall <= 0 {
		t.Stall = DefaultStallTimeout
	}
	return t
}

// apply sets the connect, TLS handshake and response header timeouts of t.
func (to Timeouts) apply(t *http.Transport) {
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, to.Connect)
		defer cancel()
		return dial(ctx, network, addr)
	}
	t.TLSHandshakeTimeout = to.Connect
	t.ResponseHeaderTimeout = to.Response
	t.ExpectContinueTimeout = min(t.ExpectContinueTimeout, to.Response)
}

// StallGuard returns a RoundTripper that fails a request whose body, or
// whose response's body, moves less than StallMinRate bytes per second
// (and less than 1 KiB) over stall spent waiting on the peer: a registry
// that accepts a connection and then stops reading or writing, or trickles
// a few bytes at a time. The
// error names the host and matches ErrStalled and a net.Error timeout (so
// a retrying transport above it retries a request that can be retried).
func StallGuard(rt http.RoundTripper, stall time.Duration) http.RoundTripper {
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	return stallGuard{rt: rt, stall: stall}
}

type stallGuard struct {
	rt    http.RoundTripper
	stall time.Duration
}

func (g stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	what := req.Method + " " + retry.Redact(req.URL)
	r := req.WithContext(ctx)
	var send *watchdog
	if req.Body != nil && req.Body != http.NoBody {
		send = newWatchdog(g.stall, func() {
			cancel(&StallError{What: what, Host: req.URL.Host, Stall: g.stall, Sending: true})
		})
		r.Body = &sendBody{rc: req.Body, w: send}
	}
	resp, err := g.rt.RoundTrip(r)
	if send != nil {
		send.stop()
	}
	if err != nil {
		var se *StallError
		if errors.As(context.Cause(ctx), &se) && req.Context().Err() == nil {
			err = se
		}
		cancel(nil)
		return nil, err
	}
	recv := newWatchdog(g.stall, func() {
		cancel(&StallError{What: what, Host: req.URL.Host, Stall: g.stall})
	})
	resp.Body = &recvBody{rc: resp.Body, w: recv, ctx: ctx, cancel: cancel, parent: req.Context()}
	return resp, nil
}

// StallError is the error of a stalled transfer.
type StallError struct {
	// What is the method and redacted URL of the request.
	What string
	// Host is the registry's host[:port].
	Host string
	// Stall is the stall timeout that was exceeded.
	Stall time.Duration
	// Sending is true when the request body stalled (the peer stopped
	// reading), false when the response did.
	Sending bool
}

func (e *StallError) Error() string {
	dir := "received from"
	if e.Sending {
		dir = "accepted by"
	}
	return fmt.Sprintf("ocistore: %s: less than %d bytes %s %s in %s: the registry stalled (check it and the network, or raise --stall-timeout)",
		e.What, minProgress(e.Stall), dir, e.Host, e.Stall)
}

// Unwrap makes the error match ErrStalled and os.ErrDeadlineExceeded.
func (e *StallError) Unwrap() []error { return []error{ErrStalled, errTimeout} }

// Timeout reports true: the error is a net.Error timeout.
func (e *StallError) Timeout() bool { return true }

// Temporary reports true (net.Error).
func (e *StallError) Temporary() bool { return true }

// errTimeout is what a stalled body read returns below the StallError.
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// minProgress is the progress a body must make per stall window.
func minProgress(stall time.Duration) int64 {
	return max(1024, int64(stall.Seconds()*StallMinRate))
}

// watchdog measures the time spent waiting on the peer and the bytes moved
// since the last minProgress(stall) of progress; it fires once that time
// reaches the stall timeout.
type watchdog struct {
	mu      sync.Mutex
	stall   time.Duration
	min     int64
	fire    func()
	timer   *time.Timer
	since   time.Time     // waiting since (zero: not waiting)
	waited  time.Duration // waited before since, without progress
	moved   int64         // bytes since the last progress
	fired   bool
	stopped bool
}

func newWatchdog(stall time.Duration, fire func()) *watchdog {
	return &watchdog{stall: stall, min: minProgress(stall), fire: fire}
}

// wait starts a period of waiting on the peer.
func (w *watchdog) wait() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.fired || !w.since.IsZero() {
		return
	}
	w.since = time.Now()
	left := w.stall - w.waited
	if left <= 0 {
		left = time.Nanosecond
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(left, w.expire)
	} else {
		w.timer.Reset(left)
	}
}

// done ends a period of waiting in which n bytes moved.
func (w *watchdog) done(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.waited += time.Since(w.since)
	w.since = time.Time{}
	w.moved += int64(n)
	if w.moved >= w.min {
		w.waited, w.moved = 0, 0
	}
}

func (w *watchdog) expire() {
	w.mu.Lock()
	if w.stopped || w.fired || w.since.IsZero() || w.waited+time.Since(w.since) < w.stall {
		// done() raced with the timer; wait() re-arms it.
		w.mu.Unlock()
		return
	}
	w.fired = true
	w.mu.Unlock()
	w.fire()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *watchdog) hasFired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// sendBody is a request body: the time between one read and the next is
// the transport writing to the peer.
type sendBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *sendBody) Read(p []byte) (int, error) {
	b.w.done(0)
	n, err := b.rc.Read(p)
	if err == nil {
		b.w.mu.Lock()
		b.w.moved += int64(n)
		b.w.mu.Unlock()
		b.w.wait()
	} else {
		b.w.stop()
	}
	return n, err
}

func (b *sendBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}

// recvBody is a response body: the time spent inside Read is the peer's.
type recvBody struct {
	rc     io.ReadCloser
	w      *watchdog
	ctx    context.Context
	parent context.Context
	cancel context.CancelCauseFunc
}

func (b *recvBody) Read(p []byte) (int, error) {
	b.w.wait()
	n, err := b.rc.Read(p)
	b.w.done(n)
	if err != nil && err != io.EOF && b.w.hasFired() && b.parent.Err() == nil {
		var se *StallError
		if errors.As(context.Cause(b.ctx), &se) {
			return n, se
		}
	}
	if err != nil {
		b.w.stop()
	}
	return n, err
}

func (b *recvBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// NewHTTPClient returns a client for plain HTTP(S) fetches beside the
// registries (update graph, release signatures, graph data) with the same
// bounds: connect, TLS handshake, response header and stall timeouts.
func NewHTTPClient(to Timeouts) *http.Client {
	to = to.withDefaults()
	t := http.DefaultTransport.(*http.Transport).Clone()
	to.apply(t)
	return &http.Client{Transport: StallGuard(t, to.Stall)}
}
