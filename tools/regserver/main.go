// Command regserver runs internal/testing/regserver as a process of its own, so that
// a benchmark does not count the registry's memory and CPU as the tool's.
//
//	regserver -root DIR [-addr 127.0.0.1:0] [-sparse-indexes]
//
// It prints "listening on HOST:PORT" on standard output once it serves, and
// serves until SIGTERM or SIGINT, or until its standard input is closed (so
// it dies with a parent that holds a pipe to it; -watch-stdin=false when
// standard input is /dev/null).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

func main() {
	root := flag.String("root", "", "store content with the filesystem driver below `DIR` (required)")
	addr := flag.String("addr", "127.0.0.1:0", "listen `address`; only a loopback port chosen by the system is supported")
	watchStdin := flag.Bool("watch-stdin", true, "exit when standard input is closed")
	sparse := flag.Bool("sparse-indexes", false, "accept image indexes whose platform manifests are partly absent (validation.manifests.indexes.platforms: none)")
	flag.Parse()
	if err := run(*root, *addr, *watchStdin, *sparse); err != nil {
		fmt.Fprintln(os.Stderr, "regserver:", err)
		os.Exit(1)
	}
}

func run(root, addr string, watchStdin, sparse bool) error {
	if root == "" {
		return errors.New("-root is required")
	}
	// regserver.Start always listens on 127.0.0.1 with a port of the
	// system's choice; a fixed address needs an Options.Addr there.
	if addr != "127.0.0.1:0" {
		return fmt.Errorf("-addr %s: only 127.0.0.1:0 is supported", addr)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	reg, err := regserver.Start(regserver.Options{RootDir: root, SparseIndexes: sparse})
	if err != nil {
		return err
	}
	defer reg.Close()
	fmt.Printf("listening on %s\n", reg.Host)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	if watchStdin {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
	}
	select {
	case <-stop:
	case <-stdinClosed:
	}
	return nil
}
