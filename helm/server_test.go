package helm

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// repoServer serves testdata/repo as a classic chart repository: /charts/
// is testdata/repo with index.yaml ({{SERVER}} replaced by other, or by
// its own URL), /sbo/ is the real service-binding-operator index
// with its archives. It is a chart repository serving real fixture files,
// with optional basic auth and injected faults.
type repoServer struct {
	*httptest.Server
	user, pass string
	other      string // replaces {{SERVER}} when set

	mu    sync.Mutex
	hits  map[string]int
	auth  map[string]string // path -> Authorization header of the last request
	fail  map[string]int    // path -> how many 503s are left
	extra map[string][]byte // extra files by path
}

func newRepoServer(t *testing.T, tls bool) *repoServer {
	t.Helper()
	s := &repoServer{hits: map[string]int{}, auth: map[string]string{}, fail: map[string]int{}, extra: map[string][]byte{}}
	h := http.HandlerFunc(s.serve)
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *repoServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.auth[r.URL.Path] = r.Header.Get("Authorization")
	fail := s.fail[r.URL.Path] > 0
	if fail {
		s.fail[r.URL.Path]--
	}
	extra, isExtra := s.extra[r.URL.Path]
	s.mu.Unlock()
	if fail {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if s.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if isExtra {
		w.Write(extra)
		return
	}
	dir, file := path.Split(r.URL.Path)
	var name string
	switch dir {
	case "/charts/":
		name = file
	case "/sbo/":
		name = file
		if file == "index.yaml" {
			name = "service-binding-operator-index.yaml"
		}
	default:
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join("testdata", "repo", name))
	if err != nil || strings.Contains(name, "..") {
		http.NotFound(w, r)
		return
	}
	if dir == "/charts/" && file == "index.yaml" {
		srv := s.URL
		if s.other != "" {
			srv = s.other
		}
		data = bytes.ReplaceAll(data, []byte("{{SERVER}}"), []byte(srv))
	}
	w.Write(data)
}

func (s *repoServer) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

func (s *repoServer) lastAuth(p string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth[p]
}
