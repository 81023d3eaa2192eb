package faultproxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoBackend is returned (as a 502 response) when a Proxy created with New
// serves a request before Wrap gave it a handler.
var ErrNoBackend = errors.New("faultproxy: no backend handler")

// errDropped is what the registry's handler reads once a drop fault cut the
// request body.
var errDropped = errors.New("faultproxy: connection dropped")

// Kind says what a Fault does.
type Kind int

const (
	// KindStatus answers with Fault.Status, Fault.Header and Fault.Body; the
	// registry never sees the request.
	KindStatus Kind = iota + 1
	// KindDropRequest passes the request to the registry, lets Fault.After
	// bytes of its body through, then closes the client connection. The
	// registry sees a body that ends early, as after a real network failure.
	KindDropRequest
	// KindDropResponse passes the request to the registry and closes the
	// client connection after Fault.After bytes of the response body.
	KindDropResponse
	// KindStall waits Fault.Stall (or until the client goes away), then
	// passes the request to the registry.
	KindStall
	// KindTrickle passes the request to the registry and sends its
	// response body Fault.After bytes at a time, one piece every
	// Fault.Stall.
	KindTrickle
	// KindServe answers with Fault.Handler; the registry never sees the
	// request.
	KindServe
)

func (k Kind) String() string {
	switch k {
	case KindStatus:
		return "status"
	case KindDropRequest:
		return "drop-request"
	case KindDropResponse:
		return "drop-response"
	case KindStall:
		return "stall"
	case KindTrickle:
		return "trickle"
	case KindServe:
		return "serve"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is what happens to a request a Rule selects. Build one with Status,
// RetryAfter, OCIError, DropRequestAfter, DropResponseAfter or Stall.
type Fault struct {
	Kind   Kind
	Status int           // KindStatus: the status code
	Header http.Header   // KindStatus: extra response headers
	Body   []byte        // KindStatus: response body
	After  int64         // KindDropRequest, KindDropResponse: bytes let through
	Stall  time.Duration // KindStall: the delay; KindTrickle: between pieces
	// Handler answers the request (KindServe).
	Handler http.Handler
}

// Status answers with code and an empty body.
func Status(code int) Fault { return Fault{Kind: KindStatus, Status: code} }

// RetryAfter answers with code (429 or 503, usually) and a Retry-After
// header; value is delta-seconds ("1") or an HTTP date
// (time.Format(http.TimeFormat)).
func RetryAfter(code int, value string) Fault {
	return Fault{Kind: KindStatus, Status: code, Header: http.Header{"Retry-After": {value}}}
}

// OCIError answers with code and a distribution-spec error body carrying the
// error code (for example "DENIED" or "MANIFEST_BLOB_UNKNOWN") and message.
func OCIError(code int, errCode, message string) Fault {
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{errCode, message}}}) // cannot fail: strings only
	return Fault{Kind: KindStatus, Status: code, Body: body,
		Header: http.Header{"Content-Type": {"application/json"}}}
}

// DropRequestAfter lets n bytes of the request body reach the registry, then
// closes the connection.
func DropRequestAfter(n int64) Fault { return Fault{Kind: KindDropRequest, After: n} }

// DropResponseAfter closes the connection after n bytes of the response body.
func DropResponseAfter(n int64) Fault { return Fault{Kind: KindDropResponse, After: n} }

// Stall delays the request by d, then lets it through.
func Stall(d time.Duration) Fault { return Fault{Kind: KindStall, Stall: d} }

// Rule selects requests and says which of them get a Fault.
type Rule struct {
	// Method matches the request method; empty matches any.
	Method string
	// Path is a regular expression matched against the URL path (not the
	// query); empty matches any.
	Path string
	// MinBody, when positive, matches only requests whose Content-Length
	// is at least MinBody (a proxy in front of a registry refusing large
	// bodies with 413).
	MinBody int64
	// Skip lets the first Skip matching requests through untouched.
	Skip int
	// Times is how many matching requests after the skipped ones get the
	// fault; 0 means every one of them.
	Times int
	// Fault is applied to the selected requests.
	Fault Fault
}

type rule struct {
	Rule
	re      *regexp.Regexp
	matched int // matching requests seen so far
}

// Record is one request as the proxy saw it.
type Record struct {
	Method string
	// Path is the URL path, without the query (which can carry signed
	// tokens).
	Path string
	// Status is the status sent to the client; 0 when the connection was
	// dropped before a status was sent.
	Status int
	// RequestBytes is the number of request body bytes that passed the
	// proxy (what the registry could read).
	RequestBytes int64
	// ResponseBytes is the number of response body bytes sent to the client.
	ResponseBytes int64
	// Fault is the kind of fault applied, 0 when none.
	Fault Kind
}

// Proxy is a fault-injecting http.Handler. The zero value is not usable;
// create one with New or NewReverseProxy.
type Proxy struct {
	mu       sync.Mutex
	next     http.Handler
	rules    []*rule
	records  []Record
	inflight int
}

// New returns a Proxy without a backend; give it one with Wrap.
func New() *Proxy { return &Proxy{} }

// Wrap makes next the backend and returns the proxy. Its signature matches
// regserver.Options.Wrap.
func (p *Proxy) Wrap(next http.Handler) http.Handler {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = next
	return p
}

// NewReverseProxy returns a Proxy that forwards to the registry at target
// (scheme and host). The Host header of the client is kept, so the
// registry's Location headers point back at the proxy.
func NewReverseProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q: want http(s)://host[:port]", target)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		// Stream uploads and downloads: no buffering of whole bodies.
		FlushInterval: -1,
		// A dropped client makes the backend request fail; answer quietly
		// (the answer goes nowhere once the connection is gone).
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return &Proxy{next: rp}, nil
}

// Add appends a rule. Rules are tried in order; the first one that selects a
// request applies its fault. A rule whose Skip or Times budget is spent no
// longer selects anything, so later rules then apply.
func (p *Proxy) Add(r Rule) error {
	nr := &rule{Rule: r}
	if r.Path != "" {
		re, err := regexp.Compile(r.Path)
		if err != nil {
			return fmt.Errorf("faultproxy: rule path: %w", err)
		}
		nr.re = re
	}
	if r.Skip < 0 || r.Times < 0 {
		return fmt.Errorf("faultproxy: rule %s %s: negative Skip or Times", r.Method, r.Path)
	}
	switch r.Fault.Kind {
	case KindStatus:
		if r.Fault.Status < 100 || r.Fault.Status > 999 {
			return fmt.Errorf("faultproxy: rule %s %s: status %d out of range", r.Method, r.Path, r.Fault.Status)
		}
	case KindDropRequest, KindDropResponse:
		if r.Fault.After < 0 {
			return fmt.Errorf("faultproxy: rule %s %s: negative byte count", r.Method, r.Path)
		}
	case KindStall:
	case KindTrickle:
		if r.Fault.After <= 0 || r.Fault.Stall < 0 {
			return fmt.Errorf("faultproxy: rule %s %s: trickle needs a positive byte count", r.Method, r.Path)
		}
	case KindServe:
		if r.Fault.Handler == nil {
			return fmt.Errorf("faultproxy: rule %s %s: no handler", r.Method, r.Path)
		}
	default:
		return fmt.Errorf("faultproxy: rule %s %s: unknown fault kind %d", r.Method, r.Path, r.Fault.Kind)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, nr)
	return nil
}

// ClearRules removes every rule; records are kept.
func (p *Proxy) ClearRules() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Records returns a copy of every request recorded so far, in the order the
// requests finished. Requests still being served are not included (see
// WaitIdle).
func (p *Proxy) Records() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.records...)
}

// WaitIdle waits until no request is being served, or timeout passes, and
// reports whether the proxy is idle. A client can see a dropped connection
// before the registry's handler has finished; call WaitIdle before looking
// at Records.
func (p *Proxy) WaitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		n := p.inflight
		p.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ResetRecords forgets the recorded requests.
func (p *Proxy) ResetRecords() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = nil
}

// Count returns how many recorded requests have the method (empty: any) and
// a path matching the regular expression pathRE (empty: any). It panics on a
// bad expression, which is a bug in the test that calls it.
func (p *Proxy) Count(method, pathRE string) int {
	return len(p.Select(method, pathRE))
}

// Select returns the recorded requests with the method (empty: any) and a
// path matching pathRE (empty: any). It panics on a bad expression.
func (p *Proxy) Select(method, pathRE string) []Record {
	var re *regexp.Regexp
	if pathRE != "" {
		re = regexp.MustCompile(pathRE)
	}
	var out []Record
	for _, r := range p.Records() {
		if (method == "" || r.Method == method) && (re == nil || re.MatchString(r.Path)) {
			out = append(out, r)
		}
	}
	return out
}

// pick returns the fault for r, if any, and advances the rules' counters.
func (p *Proxy) pick(r *http.Request) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ru := range p.rules {
		if ru.Method != "" && ru.Method != r.Method {
			continue
		}
		if ru.re != nil && !ru.re.MatchString(r.URL.Path) {
			continue
		}
		if ru.MinBody > 0 && r.ContentLength < ru.MinBody {
			continue
		}
		if ru.Times > 0 && ru.matched >= ru.Skip+ru.Times {
			continue // spent
		}
		ru.matched++
		if ru.matched <= ru.Skip {
			return Fault{}, false
		}
		return ru.Fault, true
	}
	return Fault{}, false
}

// ServeHTTP applies the first rule that selects r, records the request and
// passes it on to the backend unless the fault answers it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	next := p.next
	p.inflight++
	p.mu.Unlock()

	rw := &recorder{ResponseWriter: w, dropAfter: -1}
	rec := Record{Method: r.Method, Path: r.URL.Path}
	body := &countingBody{rc: r.Body, limit: -1, rw: rw}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = body
	}
	defer func() {
		rec.Status = rw.status
		rec.RequestBytes = body.n.Load()
		rec.ResponseBytes = rw.n
		p.mu.Lock()
		p.records = append(p.records, rec)
		p.inflight--
		p.mu.Unlock()
	}()

	if next == nil {
		http.Error(rw, ErrNoBackend.Error(), http.StatusBadGateway)
		return
	}
	f, ok := p.pick(r)
	if ok {
		rec.Fault = f.Kind
		switch f.Kind {
		case KindStatus:
			for k, vs := range f.Header {
				rw.Header()[k] = append([]string(nil), vs...)
			}
			if len(f.Body) > 0 {
				rw.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
			}
			rw.WriteHeader(f.Status)
			rw.Write(f.Body)
			return
		case KindStall:
			// A hang reads the request body meanwhile: the server notices
			// that the client went away only once the body is read.
			gone := make(chan struct{})
			if f.Stall >= hangFor && r.Body != nil && r.Body != http.NoBody {
				go func() {
					if _, err := io.Copy(io.Discard, r.Body); err != nil {
						close(gone)
					}
				}()
			}
			t := time.NewTimer(f.Stall)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-gone:
				t.Stop()
				return
			}
		case KindServe:
			f.Handler.ServeHTTP(rw, r)
			return
		case KindTrickle:
			rw.trickle, rw.every, rw.done = f.After, f.Stall, r.Context().Done()
		case KindDropRequest:
			if r.Body == nil || r.Body == http.NoBody || f.After == 0 {
				rw.drop()
				return
			}
			body.limit = f.After
		case KindDropResponse:
			if f.After == 0 {
				rw.drop()
				return
			}
			rw.dropAfter = f.After
		}
	}
	next.ServeHTTP(rw, r)
}

// countingBody counts the request body bytes the backend reads, and cuts the
// connection once limit bytes went through (limit < 0: never).
type countingBody struct {
	rc io.ReadCloser
	// n is read by the handler while a hang's reader may still count.
	n     atomic.Int64
	limit int64
	rw    *recorder
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.limit >= 0 {
		left := b.limit - b.n.Load()
		if left <= 0 {
			b.rw.drop()
			return 0, errDropped
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// recorder records the status and body size of a response, and can drop the
// connection (hijack and close) after dropAfter body bytes (< 0: never).
type recorder struct {
	http.ResponseWriter
	status    int
	n         int64
	dropAfter int64
	dropped   bool
	// trickle > 0 sends the body trickle bytes per every (KindTrickle),
	// until done.
	trickle int64
	every   time.Duration
	done    <-chan struct{}
}

func (w *recorder) WriteHeader(code int) {
	if w.dropped || w.status != 0 {
		return
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.dropped {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropAfter >= 0 && w.n+int64(len(p)) > w.dropAfter {
		k := w.dropAfter - w.n
		n, _ := w.ResponseWriter.Write(p[:k])
		w.n += int64(n)
		w.drop()
		return n, http.ErrHijacked
	}
	if w.trickle > 0 {
		return w.writeSlowly(p)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// writeSlowly writes p w.trickle bytes at a time, flushing each piece and
// waiting w.every before the next one (never after the last); it stops
// when the client goes away.
func (w *recorder) writeSlowly(p []byte) (int, error) {
	var sent int
	for len(p) > 0 {
		if w.n > 0 {
			t := time.NewTimer(w.every)
			select {
			case <-t.C:
			case <-w.done:
				t.Stop()
				return sent, http.ErrHandlerTimeout
			}
		}
		k := min(int64(len(p)), w.trickle)
		n, err := w.ResponseWriter.Write(p[:k])
		sent += n
		w.n += int64(n)
		if err != nil {
			return sent, err
		}
		w.Flush()
		p = p[k:]
	}
	return sent, nil
}

// Flush lets streaming backends (the reverse proxy) flush.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.dropped {
		f.Flush()
	}
}

// drop flushes what was written and closes the client connection.
func (w *recorder) drop() {
	if w.dropped {
		return
	}
	w.dropped = true
	if w.status != 0 {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		// HTTP/2 or a wrapped writer: aborting the handler is the only way
		// to cut the stream.
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	closeNow(conn, buf)
}

// closeNow closes conn with a reset rather than a graceful FIN where it can,
// which is what a middlebox dropping a connection looks like.
func closeNow(conn net.Conn, buf *bufio.ReadWriter) {
	if buf != nil {
		buf.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
