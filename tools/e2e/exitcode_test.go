package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/tools/internal/cli"
)

// TestExitCodes drives every row of the README's exit-code table from a
// real cause, through the real tools (issue 21).
func TestExitCodes(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	s, isc := seed(t, src, 1, src.Host)
	work := t.TempDir()
	good := filepath.Join(work, "good")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--volume-size", "300KiB", "--chunk-size", "64KiB", "file://"+good), 0)
	missingTag := writeISC(t, s, src.Host, src.Host+"/library/app:does-not-exist")
	allMissing := writeISC(t, &archivetest.Sample{}, src.Host, src.Host+"/library/app:does-not-exist", src.Host+"/team/tool:nope")
	badSyntax := filepath.Join(work, "bad.yaml")
	os.WriteFile(badSyntax, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror: [\n"), 0o644)
	badRef := writeISC(t, &archivetest.Sample{}, src.Host, src.Host+"/Team/UPPER:1")

	damaged := copyArchive(t, good)
	r, err := archive.Open(damaged)
	if err != nil {
		t.Fatal(err)
	}
	v := r.Volumes()[0]
	r.Close()
	flipBit(t, filepath.Join(damaged, archive.VolumeName(v.Number)), v.Size/2)

	// A delta whose prerequisites an empty registry lacks.
	dst1 := regserver.New(t, regserver.Options{})
	rec := filepath.Join(work, "receipt.json")
	mustCode(t, unpack(t, "--from", "file://"+good, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst1.Host+"/m"), 0)
	_, isc2 := seed(t, src, 2, src.Host)
	delta := filepath.Join(work, "delta")
	mustCode(t, pack(t, "-c", isc2, "--src-tls-verify=false", "--base", rec, "file://"+delta), 0)

	auth := regserver.New(t, regserver.Options{Username: "bob", Password: "right-pass-123"})
	closed := closedPort(t)
	fresh := func() string { return filepath.Join(t.TempDir(), "out") }
	dest := func() string {
		return "docker://" + regserver.New(t, regserver.Options{}).Host + "/m"
	}
	unpackTo := func(dir string, extra ...string) []string {
		return append([]string{"--from", "file://" + dir, "--dest-tls-verify=false", "--receipt", filepath.Join(t.TempDir(), "r.json"),
			"--cluster-resources", filepath.Join(t.TempDir(), "cr")}, append(extra, dest())...)
	}

	tests := []struct {
		name string
		tool func(*testing.T, ...string) run
		args []string
		want int
		say  string
	}{
		{"0: everything done", pack, []string{"-c", isc, "--src-tls-verify=false", "file://" + fresh()}, mirror.ExitOK, ""},
		{"1: some images failed", pack, []string{"-c", missingTag, "--src-tls-verify=false", "file://" + fresh()}, mirror.ExitFailure, "--base"},
		{"2: bad flag value", pack, []string{"-c", isc, "--compression", "9", "file://" + fresh()}, mirror.ExitUsage, "compression level 9"},
		{"2: mistyped flag", pack, []string{"-c", isc, "--dryrun", "file://" + fresh()}, mirror.ExitUsage, "did you mean --dry-run?"},
		{"2: contradictory flags", unpack, unpackTo(good, "--skip-verify", "--verify-first"), mirror.ExitUsage, "--verify-first"},
		{"2: bad isc.yaml", pack, []string{"-c", badSyntax, "file://" + fresh()}, mirror.ExitUsage, "bad.yaml"},
		{"2: bad reference", pack, []string{"-c", badRef, "file://" + fresh()}, mirror.ExitUsage, "must be lower case"},
		{"3: damaged archive", unpack, []string{"verify", "file://" + damaged}, mirror.ExitIntegrity, "PROBLEM"},
		{"3: damaged archive at unpack --verify-first", unpack, unpackTo(damaged, "--verify-first"), mirror.ExitIntegrity, "nothing was pushed"},
		{"3: missing prerequisites", unpack, unpackTo(delta), mirror.ExitIntegrity, "prerequisites"},
		{"4: refused credentials", pack, []string{"-c", writeISC(t, s, auth.Host), "--src-tls-verify=false", "--authfile", authFile(t, auth.Host, "bob", "wrong-pass-456"), "file://" + fresh()}, mirror.ExitRegistry, ""},
		{"4: unreachable registry", pack, []string{"-c", writeISC(t, s, closed), "--src-tls-verify=false", "file://" + fresh()}, mirror.ExitRegistry, closed},
		{"5: mistyped --from path", unpack, unpackTo(filepath.Join(work, "no-such-dir")), mirror.ExitLocalIO, "no-such-dir"},
		{"5: an archive already in the output directory", pack, []string{"-c", isc, "--src-tls-verify=false", "file://" + good}, mirror.ExitLocalIO, "already"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.tool(t, tc.args...)
			mustCode(t, r, tc.want)
			if tc.say != "" && !strings.Contains(r.stdout+r.stderr, tc.say) {
				t.Errorf("output does not say %q:\n%s%s", tc.say, r.stdout, r.stderr)
			}
		})
	}

	t.Run("4: every image failed writes no archive, and the rerun just works", func(t *testing.T) {
		out := fresh()
		mustCode(t, pack(t, "-c", allMissing, "--src-tls-verify=false", "file://"+out), mirror.ExitRegistry)
		if vols, _ := filepath.Glob(filepath.Join(out, "*.enclave")); len(vols) != 0 {
			t.Fatalf("volumes written though nothing succeeded: %v", vols)
		}
		mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+out), mirror.ExitOK)
	})

	t.Run("130: interrupted (verify honours Ctrl-C)", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, args := range [][]string{{"enclave-unpack", "verify", "file://" + good}, append([]string{"enclave-unpack"}, unpackTo(good)...)} {
			var out, errb bytes.Buffer
			if code := cli.Run(ctx, cli.UnpackApp(), args, &out, &errb); code != mirror.ExitInterrupted {
				t.Errorf("%v: exit %d, want %d\n%s%s", args, code, mirror.ExitInterrupted, out.String(), errb.String())
			}
		}
	})
}

// closedPort returns a loopback host:port that refuses connections.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
