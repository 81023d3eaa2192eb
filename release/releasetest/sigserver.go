package releasetest

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"

	"github.com/opencontainers/go-digest"
)

// SignatureServer serves release signatures the way mirror.openshift.com
// does: GET /sha256=<hex>/signature-<n>, 404 when there is none.
type SignatureServer struct {
	*httptest.Server
	mu   sync.Mutex
	sigs map[digest.Digest][][]byte
	hits int
}

var sigPath = regexp.MustCompile(`^/sha256=([a-f0-9]{64})/signature-([1-9][0-9]*)$`)

// NewSignatureServer starts a server on loopback; Close stops it. Its URL
// plus "/" is the base to give a signature client.
func NewSignatureServer(sigs map[digest.Digest][][]byte) *SignatureServer {
	s := &SignatureServer{sigs: sigs}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add adds a signature for d (becoming signature-<count>).
func (s *SignatureServer) Add(d digest.Digest, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sigs == nil {
		s.sigs = map[digest.Digest][][]byte{}
	}
	s.sigs[d] = append(s.sigs[d], sig)
}

// Hits is the number of requests served.
func (s *SignatureServer) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func (s *SignatureServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	m := sigPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	n, _ := strconv.Atoi(m[2])
	list := s.sigs[digest.NewDigestFromEncoded(digest.SHA256, m[1])]
	if n > len(list) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(list[n-1])
}
