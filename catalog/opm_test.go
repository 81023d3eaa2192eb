package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"oras.land/oras-go/v2/content/memory"
)

// The real opm (OPERATORS.md 9.2): built from the Go module proxy once per
// machine, cached outside the repository, keyed by version.
const opmVersion = "v1.73.0"

// opmWait bounds how long a test waits for a first build of opm that is
// under way; past it the test skips and the build goes on in the
// background for the next run.
const opmWait = 8 * time.Minute

func opmCacheDir() string {
	if d := os.Getenv("ENCLAVE_TOOLS_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "enclave", "bin")
}

// opm returns the path of the opm binary, building it if needed: the
// build runs detached (its own process group, log next to the binary), so
// a test that gives up waiting leaves it to finish for the next run.
func opm(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no opm")
	}
	dir := opmCacheDir()
	bin := filepath.Join(dir, "opm-"+opmVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cannot build opm: %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("cannot build opm: no go command: %v", err)
	}
	lock := bin + ".building"
	log := bin + ".log"
	// O_EXCL: one build at a time across test processes; a lock older than
	// 30 minutes is a dead build.
	if st, err := os.Stat(lock); err == nil && time.Since(st.ModTime()) > 30*time.Minute {
		os.Remove(lock)
	}
	if f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
		f.Close()
		work, err := os.MkdirTemp("", "enclave-opm-build-*")
		if err != nil {
			os.Remove(lock)
			t.Skipf("cannot build opm: %v", err)
		}
		script := fmt.Sprintf(`set -e
trap 'rm -f %[1]q; rm -rf %[2]q' EXIT
cd %[2]q
%[3]q mod init opmbuild
%[3]q get github.com/operator-framework/operator-registry/cmd/opm@%[4]s
CGO_ENABLED=0 %[3]q build -tags containers_image_openpgp -o %[5]q.tmp github.com/operator-framework/operator-registry/cmd/opm
mv %[5]q.tmp %[5]q
`, lock, work, goBin, opmVersion, bin)
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		lf, err := os.Create(log)
		if err == nil {
			cmd.Stdout, cmd.Stderr = lf, lf
		}
		if err := cmd.Start(); err != nil {
			os.Remove(lock)
			t.Skipf("cannot build opm: %v", err)
		}
		go cmd.Wait() //nolint:errcheck // the log says why
		t.Logf("building opm %s in the background (log %s)", opmVersion, log)
	}
	deadline := time.Now().Add(opmWait)
	if d, ok := t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
		deadline = d.Add(-time.Minute)
	}
	for time.Now().Before(deadline) {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
		if _, err := os.Stat(lock); err != nil {
			b, _ := os.ReadFile(log)
			t.Skipf("opm %s could not be built from the module proxy; its build log:\n%s", opmVersion, b)
		}
		time.Sleep(2 * time.Second)
	}
	t.Skipf("opm %s is still building in the background (log %s); run the test again when it is done", opmVersion, log)
	return ""
}

func runOpm(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// TestOpmValidate runs opm validate on filtered catalogs: the demo goldens
// (JSON, YAML converted, deprecations, unknown schemas) and the real
// fixtures with ranges that keep non-head entries.
func TestOpmValidate(t *testing.T) {
	bin := opm(t)
	demo := load(t, catalogImage(t, "testdata/demo"))
	real := load(t, realCatalog())
	cases := []struct {
		c   *Catalog
		isc string
	}{}
	for _, tc := range demoCases {
		if tc.wantErr == nil && tc.loadErr == "" {
			cases = append(cases, struct {
				c   *Catalog
				isc string
			}{demo, tc.isc})
		}
	}
	for _, tc := range realCases {
		if tc.wantErr == nil && tc.loadErr == "" {
			cases = append(cases, struct {
				c   *Catalog
				isc string
			}{real, tc.isc})
		}
	}
	cases = append(cases, struct {
		c   *Catalog
		isc string
	}{real, ""}, struct {
		c   *Catalog
		isc string
	}{real, "full: true"})
	for i, tc := range cases {
		op, err := operator(t, tc.isc)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Filter(tc.c, op)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "configs")
		if err := s.WriteDir(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
		if out, err := runOpm(t, bin, "validate", dir); err != nil {
			t.Errorf("case %d (%q): opm validate: %v\n%s", i, tc.isc, err, out)
		}
	}
	// Selections with failed bundles taken out stay valid.
	for _, tc := range withoutCases {
		op, _ := operator(t, tc.isc)
		s, err := Filter(demo, op)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = s.Without(dropNames(tc.drop...)); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "configs")
		if err := s.WriteDir(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
		if out, err := runOpm(t, bin, "validate", dir); err != nil {
			t.Errorf("without %v: opm validate: %v\n%s", tc.drop, err, out)
		}
	}
	// And opm does reject what oc-mirror would have emitted for G22: the
	// check is worth something.
	bad := filepath.Join(t.TempDir(), "configs")
	os.MkdirAll(filepath.Join(bad, "p"), 0o755)
	os.WriteFile(filepath.Join(bad, "p", "catalog.json"), []byte(`{"schema":"olm.package","name":"p","defaultChannel":"c"}{"schema":"olm.channel","package":"p","name":"c","entries":[]}`), 0o644)
	if out, err := runOpm(t, bin, "validate", bad); err == nil {
		t.Errorf("opm validate accepted a channel without entries:\n%s", out)
	}
}

// TestOpmServeRebuilt runs opm serve as the rebuilt image's command says,
// on the image's extracted filesystem, and lists packages over gRPC; the
// original image's command, with its stale cache, fails the integrity
// check (OCPBUGS-19060 class).
func TestOpmServeRebuilt(t *testing.T) {
	bin := opm(t)
	ctx := context.Background()
	img := catalogImage(t, "testdata/demo")
	img.index = true
	repo, desc := fromRegistry(t, img)
	c, err := Load(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := operator(t, "packages:\n- name: alpha\n  minVersion: 1.1.0\n- name: beta")
	s, err := Filter(c, op)
	if err != nil {
		t.Fatal(err)
	}
	dst := memory.New()
	rebuilt, err := s.Rebuild(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cfg := extract(t, dst, rebuilt, root)
	args := slices.Concat(cfg.Config.Entrypoint, cfg.Config.Cmd)
	if args[0] != "/bin/opm" {
		t.Fatalf("entrypoint %q", cfg.Config.Entrypoint)
	}
	for i, a := range args {
		if strings.HasPrefix(a, "/") && i > 0 {
			args[i] = filepath.Join(root, a)
		}
	}
	port := freePort(t)
	args = append(args[1:], "-p", port, "--pprof-addr=", "-t", filepath.Join(root, "termination-log"))
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	conn, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var names []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		names, err = listPackages(ctx, conn)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ListPackages: %v\nopm serve %q said:\n%s", err, args, out.String())
	}
	slices.Sort(names)
	if want := []string{"alpha", "beta"}; !slices.Equal(names, want) {
		t.Fatalf("served packages %q, want %q", names, want)
	}
	for _, p := range s.Packages {
		def, heads, err := getPackage(ctx, conn, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, c := range p.Channels {
			want[c.Name] = c.Head
		}
		if def != p.DefaultChannel || fmt.Sprint(heads) != fmt.Sprint(want) {
			t.Errorf("served %s: default %q heads %v; want %q %v", p.Name, def, heads, p.DefaultChannel, want)
		}
	}

	// The original image's own command on its own filesystem: the stale
	// cache does not match the FBC, and opm refuses to start.
	orig := t.TempDir()
	ocfg := extract(t, repo, desc, orig)
	oargs := slices.Concat(ocfg.Config.Entrypoint[1:], ocfg.Config.Cmd)
	for i, a := range oargs {
		if strings.HasPrefix(a, "/") {
			oargs[i] = filepath.Join(orig, a)
		} else if v, ok := strings.CutPrefix(a, "--cache-dir="); ok {
			oargs[i] = "--cache-dir=" + filepath.Join(orig, v)
		}
	}
	oargs = append(oargs, "-p", freePort(t), "--pprof-addr=", "-t", filepath.Join(orig, "termination-log"))
	o, err := runOpm(t, bin, oargs...)
	if err == nil || !strings.Contains(o, "integrity check failed: cache requires rebuild") {
		t.Errorf("opm %q on the original image: %v, want a cache failure; output:\n%s", oargs, err, o)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// rawCodec sends and receives protobuf bytes as they are; the few
// messages used are encoded by hand with protowire (operator-registry's
// api package is not a dependency of this module).
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// fields decodes a protobuf message's length-delimited fields.
func fields(b []byte) (map[protowire.Number][][]byte, error) {
	out := map[protowire.Number][][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			out[num] = append(out[num], v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		b = b[m:]
	}
	return out, nil
}

// listPackages calls api.Registry/ListPackages (server streaming of
// PackageName{name=1}).
func listPackages(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/api.Registry/ListPackages")
	if err != nil {
		return nil, err
	}
	req := []byte{}
	if err := st.SendMsg(&req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	var names []string
	for {
		var msg []byte
		err := st.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		f, err := fields(msg)
		if err != nil {
			return nil, err
		}
		for _, n := range f[1] {
			names = append(names, string(n))
		}
	}
}

// getPackage calls api.Registry/GetPackage: Package{name=1, channels=2
// Channel{name=1, csvName=2}, defaultChannelName=3}.
func getPackage(ctx context.Context, conn *grpc.ClientConn, name string) (string, map[string]string, error) {
	req := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
	var resp []byte
	if err := conn.Invoke(ctx, "/api.Registry/GetPackage", &req, &resp); err != nil {
		return "", nil, err
	}
	f, err := fields(resp)
	if err != nil {
		return "", nil, err
	}
	heads := map[string]string{}
	for _, ch := range f[2] {
		cf, err := fields(ch)
		if err != nil {
			return "", nil, err
		}
		if len(cf[1]) == 1 && len(cf[2]) == 1 {
			heads[string(cf[1][0])] = string(cf[2][0])
		}
	}
	def := ""
	if len(f[3]) == 1 {
		def = string(f[3][0])
	}
	return def, heads, nil
}
