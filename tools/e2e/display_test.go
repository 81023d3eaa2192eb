package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
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

// Verify names the damaged volume by its file (what a person copies again)
// and number, the blob by digest, and counts the rest of a damaged blob's
// chunks as damaged, not as abandoned writes (issue 16: "volume 3 offset
// 29361695", "22.7 MiB of chunks no blob uses (writes that were
// abandoned)" for one flipped bit).
func TestVerifyNamesTheDamage(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	_, isc := seed(t, src, 1, src.Host)
	dir := filepath.Join(t.TempDir(), "a")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--volume-size", "300KiB", "--chunk-size", "64KiB", "file://"+dir), 0)

	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var blob format.Blob
	var chunk format.Chunk
	ar.Format().Blobs(func(b format.Blob) bool {
		if cs := ar.Format().Chunks(b); len(cs) >= 3 && cs[0].Offset > 4096 && cs[0].StoredSize > 1024 {
			blob, chunk = b, cs[0]
			return false
		}
		return true
	})
	ar.Close()
	if blob.Digest == "" {
		t.Fatal("no blob of 3 chunks or more")
	}
	flipBit(t, filepath.Join(dir, archive.VolumeName(chunk.Volume)), chunk.Offset+int64(chunk.StoredSize)/2)

	r := unpack(t, "verify", "file://"+dir)
	mustCode(t, r, 3)
	name := fmt.Sprintf("%s (volume %d", archive.VolumeName(chunk.Volume), chunk.Volume)
	for _, want := range []string{
		"PROBLEM format: scan: " + name + fmt.Sprintf(", offset %d): blob %s", chunk.Offset, blob.Digest),
		"of chunks belong to the damaged blobs after the damage (not verified)\n",
		"1 blobs could not be verified:\n  " + string(blob.Digest) + "\n",
		"copy again: " + name + ")\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "abandoned") {
		t.Errorf("verify calls a damaged blob's chunks abandoned writes:\n%s", r.stdout)
	}
}
