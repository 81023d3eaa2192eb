package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// A warning reads as a sentence above the progress, not as a structured
// log record in the middle of it (issue 16: `time=... level=WARN
// msg="registry speaks plain HTTP; ..." registry=127.0.0.1:5001`);
// --log-format json gives log collectors one JSON object a record.
func TestWarningsAreSentences(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	s, isc := seed(t, src, 1, src.Host)

	r := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+filepath.Join(t.TempDir(), "a"))
	mustCode(t, r, 0)
	want := "warning: registry speaks plain HTTP; using unencrypted http:// because TLS verification is disabled for it (registry " + src.Host + ")\n"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("no %q in:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "level=") || strings.Contains(r.stderr, "msg=") {
		t.Errorf("a structured log line without --log-format json:\n%s", r.stderr)
	}
	// The total is known before the first blob moves.
	if !strings.Contains(r.stderr, fmt.Sprintf("resolved %d images: ", len(s.Tags))) {
		t.Errorf("no line announcing the total:\n%s", r.stderr)
	}

	// A new registry: a client remembers what a host speaks.
	src = regserver.New(t, regserver.Options{})
	_, isc = seed(t, src, 2, src.Host)
	r = pack(t, "-c", isc, "--src-tls-verify=false", "--log-format", "json", "file://"+filepath.Join(t.TempDir(), "b"))
	mustCode(t, r, 0)
	found := false
	for _, line := range strings.Split(r.stderr, "\n") {
		var rec struct {
			Level, Msg, Registry string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" && strings.HasPrefix(rec.Msg, "registry speaks plain HTTP") && rec.Registry == src.Host {
			found = true
		}
	}
	if !found {
		t.Errorf("--log-format json: no JSON warning record in:\n%s", r.stderr)
	}

	r = pack(t, "-c", isc, "--log-format", "yaml", "file://"+filepath.Join(t.TempDir(), "c"))
	mustCode(t, r, 2)
}
