package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/tools/internal/cli"
)

// TestMain lets the test binary act as enclave-pack (ENCLAVE_E2E_AS=pack),
// so a test can kill the real command with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("ENCLAVE_E2E_AS") == "pack" {
		os.Args = append([]string{"enclave-pack"}, os.Args[1:]...)
		cli.Main(cli.PackApp())
	}
	startCosignBuild() // cosign_test.go
	os.Exit(m.Run())
}

// slowBlobs delays blob reads after the first few, so a pack is still
// running when the test kills it.
type slowBlobs struct{ n atomic.Int64 }

func (s *slowBlobs) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && s.n.Add(1) > 3 {
			time.Sleep(400 * time.Millisecond)
		}
		h.ServeHTTP(w, r)
	})
}

// kill -9 during a pack, then the same command: it finishes, reuses what was
// complete, leaves no temporary files, and the archive verifies.
func TestKillDuringPackThenRerun(t *testing.T) {
	var slow slowBlobs
	src := regserver.New(t, regserver.Options{Wrap: slow.wrap})
	s, isc := seed(t, src, 1, src.Host)
	dir := filepath.Join(t.TempDir(), "content")
	args := []string{"-c", isc, "--src-tls-verify=false", "--parallel", "1", "--blob-parallel", "1", "--chunk-size", "64KiB", "--volume-size", "300KiB", "file://" + dir}

	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ENCLAVE_E2E_AS=pack")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a temporary volume holds some chunks.
	deadline := time.Now().Add(30 * time.Second)
	for {
		parts, _ := filepath.Glob(filepath.Join(dir, ".volume-*.partial"))
		var size int64
		for _, p := range parts {
			if fi, err := os.Stat(p); err == nil {
				size += fi.Size()
			}
		}
		if size > 100<<10 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the pack wrote nothing in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the pack was not killed (it finished first?): %v", err)
	}
	if _, err := archive.Open(dir); err == nil {
		t.Fatal("an interrupted pack looks like a complete archive")
	}

	// The same command again, in-process.
	r := pack(t, args...)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "resuming an interrupted pack") {
		t.Fatalf("the rerun did not resume:\n%s", r.stderr)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".volume-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	mustCode(t, unpack(t, "verify", "file://"+dir), 0)
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	for ref, root := range s.Tags {
		got, err := ar.Resolve(context.Background(), src.Host+"/"+ref)
		if err != nil || got.Digest != root.Digest {
			t.Fatalf("%s: %v %v", ref, got.Digest, err)
		}
	}
}
