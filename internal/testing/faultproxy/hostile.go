package faultproxy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Hang accepts the request and never answers: the handler waits until the
// client goes away. (A connection that is accepted and never spoken on,
// not even for a TLS handshake, is HangListener.)
// The request body is read (and discarded) meanwhile.
func Hang() Fault { return Fault{Kind: KindStall, Stall: hangFor} }

// hangFor is the stall of Hang: longer than any test.
const hangFor = 24 * time.Hour

// Trickle lets the request through and sends the response body n bytes at
// a time, one piece every interval.
func Trickle(n int64, every time.Duration) Fault {
	return Fault{Kind: KindTrickle, After: n, Stall: every}
}

// Serve answers with h.
func Serve(h http.Handler) Fault { return Fault{Kind: KindServe, Handler: h} }

// Redirect answers with code (301, 302, 307, 308) and a Location header.
func Redirect(code int, location string) Fault {
	return Fault{Kind: KindStatus, Status: code, Header: http.Header{"Location": {location}}}
}

// LoopReferrers answers GET /v2/<name>/referrers/<digest> with an image
// index of perPage made-up artifact manifests and a Link header naming the
// next page, for ever: the chain of pages never ends. Each page carries
// distinct digests. Pages counts the pages served.
type LoopReferrers struct {
	// PerPage is the number of descriptors on each page.
	PerPage int

	mu    sync.Mutex
	pages int
}

// Pages returns the number of pages served so far.
func (l *LoopReferrers) Pages() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pages
}

// Fault returns the fault that serves the pages; select the referrers path
// with the Rule (Path `/referrers/`).
func (l *LoopReferrers) Fault() Fault { return Serve(l) }

// ServeHTTP serves one page.
func (l *LoopReferrers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.pages++
	page := l.pages
	l.mu.Unlock()
	subject := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: make([]ocispec.Descriptor, 0, l.PerPage)}
	idx.SchemaVersion = 2
	for i := range l.PerPage {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: "application/vnd.example.loop",
			Digest:       digest.FromString(fmt.Sprintf("%s/%d/%d", subject, page, i)),
			Size:         512,
		})
	}
	body, _ := json.Marshal(idx) // cannot fail
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Link", fmt.Sprintf(`<%s?last=%d>; rel="next"`, r.URL.Path, page))
	w.Write(body)
}

// HangListener listens on a loopback port, accepts every connection and
// never reads or writes on it, as a peer that is up but stuck: a client
// without timeouts waits for ever, for the TLS handshake or the response.
// Close it to release the connections.
type HangListener struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewHangListener starts one on 127.0.0.1.
func NewHangListener() (*HangListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: hang listener: %w", err)
	}
	h := &HangListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return h, nil
}

// Addr is host:port.
func (h *HangListener) Addr() string { return h.ln.Addr().String() }

// Accepted returns the number of connections accepted.
func (h *HangListener) Accepted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Close stops listening and closes every connection.
func (h *HangListener) Close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}
