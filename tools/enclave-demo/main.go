// Command enclave-demo runs the enclave workflow end to end on this machine
// with nothing but Go: it starts two registries in-process on loopback (the
// "internet" source and the disconnected mirror), seeds sample images, then
// runs the real enclave-pack and enclave-unpack commands:
//
//  1. pack the images into an archive (several volumes),
//  2. verify it and unpack it into the mirror,
//  3. change some images at the source, pack a delta cut against the
//     receipt the mirror side wrote,
//  4. unpack the delta, and unpack it again (nothing moves).
//
// It prints what moved at each step. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/tools/internal/cli"
)

const usage = `usage: enclave-demo

Runs the enclave workflow end to end on this machine, with nothing but Go:
two registries in-process on loopback, sample images, pack into a
several-volume archive, verify, unpack, a delta cut against the receipt,
and a second unpack that moves nothing. It takes no arguments.
ENCLAVE_DEMO_KEEP=1 keeps the work directory.
`

func main() { os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr, run)) }

// realMain prints help for -h or --help and does nothing else, refuses
// any other argument, and otherwise runs the demo.
func realMain(args []string, stdout, stderr io.Writer, demo func() error) int {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, usage)
			return 0
		default:
			fmt.Fprintf(stderr, "enclave-demo: unknown argument %q\n%s", a, usage)
			return 2
		}
	}
	if err := demo(); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func run() error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "enclave-demo-")
	if err != nil {
		return err
	}
	if os.Getenv("ENCLAVE_DEMO_KEEP") == "" {
		defer os.RemoveAll(work)
	}
	src, err := regserver.Start(regserver.Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := regserver.Start(regserver.Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	step("registries", "source (the connected side) at %s, mirror (the disconnected side) at %s; work dir %s", src.Host, dst.Host, work)

	repoFn := func(name string) (oras.Target, error) {
		r, err := remote.NewRepository(src.Host + "/" + name)
		if err != nil {
			return nil, err
		}
		r.PlainHTTP = true
		return r, nil
	}
	s1, err := archivetest.SampleSet(ctx, repoFn, 1, 6<<20)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	isc := filepath.Join(work, "isc.yaml")
	if err := writeISC(isc, src.Host, s1); err != nil {
		return err
	}
	step("seeded", "%d images (a multi-arch index, an image with a 6 MiB layer and a signature); config %s", len(s1.Tags), isc)

	full := filepath.Join(work, "archive-1")
	receipt := filepath.Join(work, "receipt.json")
	crd := filepath.Join(work, "cluster-resources")
	dest := "docker://" + dst.Host + "/mirror"
	steps := []struct {
		title string
		tool  string
		args  []string
	}{
		{"1. pack to disk", "pack", []string{"-c", isc, "--src-tls-verify=false", "--volume-size", "3MiB", "--chunk-size", "1MiB", "file://" + full}},
		{"2a. inspect", "unpack", []string{"inspect", "file://" + full}},
		{"2b. verify", "unpack", []string{"verify", "file://" + full}},
		{"2c. unpack into the mirror", "unpack", []string{"--from", "file://" + full, "--dest-tls-verify=false", "--receipt", receipt, "--cluster-resources", crd, dest}},
	}
	for _, st := range steps {
		if err := runTool(st.title, st.tool, st.args); err != nil {
			return err
		}
	}

	// Release 2: new top layers, same bases. The delta is cut against the
	// receipt the mirror side wrote: only what the mirror lacks crosses.
	s2, err := archivetest.SampleSet(ctx, repoFn, 2, 6<<20)
	if err != nil {
		return err
	}
	for k, v := range s1.Tags {
		s2.Tags[k] = v
	}
	isc2 := filepath.Join(work, "isc-2.yaml")
	if err := writeISC(isc2, src.Host, s2); err != nil {
		return err
	}
	delta := filepath.Join(work, "archive-2")
	for _, st := range []struct {
		title string
		tool  string
		args  []string
	}{
		{"3. pack a delta against the mirror's receipt", "pack", []string{"-c", isc2, "--src-tls-verify=false", "--base", receipt, "file://" + delta}},
		{"3b. inspect the delta", "unpack", []string{"inspect", "file://" + delta}},
		{"4. unpack the delta", "unpack", []string{"--from", "file://" + delta, "--dest-tls-verify=false", "--receipt", receipt, "--cluster-resources", crd, dest}},
		{"4b. unpack it again: nothing moves", "unpack", []string{"--from", "file://" + delta, "--dest-tls-verify=false", "--receipt", receipt, "--cluster-resources", crd, dest}},
	} {
		if err := runTool(st.title, st.tool, st.args); err != nil {
			return err
		}
	}
	sizes := func(dir string) int64 {
		var n int64
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				n += info.Size()
			}
			return nil
		})
		return n
	}
	step("done", "full archive %d bytes, delta %d bytes; the mirror holds %d images with their original digests", sizes(full), sizes(delta), len(s2.Tags))
	return nil
}

func runTool(title, tool string, args []string) error {
	app := cli.PackApp()
	if tool == "unpack" {
		app = cli.UnpackApp()
	}
	fmt.Printf("\n== %s\n$ %s %s\n", title, app.Name, strings.Join(args, " "))
	if code := cli.Run(context.Background(), app, append([]string{app.Name}, args...), os.Stdout, os.Stderr); code != 0 {
		return fmt.Errorf("%s exited %d", app.Name, code)
	}
	return nil
}

func step(title, format string, args ...any) {
	fmt.Printf("\n== %s: %s\n", title, fmt.Sprintf(format, args...))
}

func writeISC(path, host string, s *archivetest.Sample) error {
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for ref := range s.Tags {
		fmt.Fprintf(&b, "  - name: %s/%s\n", host, ref)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
