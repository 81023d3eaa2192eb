package ocistore

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/ocistore/retry"
)

// testTransport is the transport NewClient builds, with small timeouts,
// under a retry transport with a small budget.
func testTransport(t *testing.T, to Timeouts, budget time.Duration) http.RoundTripper {
	t.Helper()
	c, err := NewClient(Options{Keychain: &Keychain{}, Registries: &RegistriesConf{}, Timeouts: to,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return retry.NewTransport(rt, retry.Options{Budget: budget, BaseDelay: 10 * time.Millisecond})
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.insecure
}

var small = Timeouts{Connect: 300 * time.Millisecond, Response: 300 * time.Millisecond, Stall: 300 * time.Millisecond}

// within fails the test when f takes longer than max, and returns its
// error.
func within(t *testing.T, max time.Duration, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	if took := time.Since(start); took > max {
		t.Fatalf("took %s, want at most %s (err %v)", took, max, err)
	}
	return err
}

func TestTimeoutsHungResponse(t *testing.T) {
	p := faultproxy.New()
	p.Add(faultproxy.Rule{Fault: faultproxy.Hang()})
	srv := httptest.NewServer(p.Wrap(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	rt := testTransport(t, Timeouts{Connect: time.Second, Response: 10 * time.Second, Stall: time.Second}, time.Second)
	err := within(t, 4*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/v2/x/manifests/a", nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	if !errors.Is(err, retry.ErrGaveUp) || !strings.Contains(err.Error(), "retry budget") || !strings.Contains(err.Error(), srv.Listener.Addr().String()) {
		t.Fatalf("err = %v, want the retry budget spent, naming the host", err)
	}
}

func TestTimeoutsConnectionNeverSpoken(t *testing.T) {
	h, err := faultproxy.NewHangListener()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	rt := testTransport(t, small, 30*time.Second)
	for _, scheme := range []string{"https", "http"} {
		err := within(t, 3*time.Second, func() error {
			req, _ := http.NewRequest(http.MethodGet, scheme+"://"+h.Addr()+"/v2/", nil)
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		})
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), h.Addr()) {
			t.Fatalf("%s: err = %v, want a timeout naming %s", scheme, err, h.Addr())
		}
	}
}

func TestTimeoutsTrickledBody(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 64<<10)
	p := faultproxy.New()
	p.Add(faultproxy.Rule{Fault: faultproxy.Trickle(100, 50*time.Millisecond)})
	srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })))
	t.Cleanup(srv.Close)
	rt := testTransport(t, small, time.Second)
	err := within(t, 3*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/x/blobs/b", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	})
	var se *StallError
	if !errors.As(err, &se) || !errors.Is(err, ErrStalled) || se.Host != srv.Listener.Addr().String() || se.Sending {
		t.Fatalf("err = %v, want a receive stall naming the host", err)
	}
}

// A slow reader of a response body is not the peer's fault.
func TestTimeoutsSlowConsumerIsNotAStall(t *testing.T) {
	body := bytes.Repeat([]byte("y"), 8<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	t.Cleanup(srv.Close)
	rt := testTransport(t, small, time.Second)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/b", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []byte
	buf := make([]byte, 512)
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond) // 16 reads: 1 s, three stall timeouts
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, want %d", len(got), len(body))
	}
}

// A peer that accepts a connection and reads nothing of a large upload.
func TestTimeoutsUploadNobodyReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // never read
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	rt := testTransport(t, Timeouts{Connect: time.Second, Response: 10 * time.Second, Stall: 500 * time.Millisecond}, time.Second)
	body := make([]byte, 64<<20) // far more than socket buffers hold
	err = within(t, 5*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+ln.Addr().String()+"/v2/x/blobs/uploads/u", bytes.NewReader(body))
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	var se *StallError
	if !errors.As(err, &se) || !se.Sending || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("err = %v, want a send stall naming the host", err)
	}
}

// A body that keeps moving, but below StallMinRate averaged over the
// stall timeout, is stalled: 512 B/s over a 3 s window (1.5 KiB of the
// 3 KiB required).
func TestTimeoutsSlowTrickleBelowRate(t *testing.T) {
	body := bytes.Repeat([]byte("z"), 64<<10)
	p := faultproxy.New()
	p.Add(faultproxy.Rule{Fault: faultproxy.Trickle(256, 500*time.Millisecond)})
	srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })))
	t.Cleanup(srv.Close)
	rt := testTransport(t, Timeouts{Connect: time.Second, Response: time.Second, Stall: 3 * time.Second}, time.Second)
	err := within(t, 8*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/x/blobs/b", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	})
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "less than 3072 bytes") {
		t.Fatalf("err = %v, want a stall below 3072 bytes per 3s", err)
	}
}
