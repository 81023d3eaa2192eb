//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// build compiles the main package pkg (relative to the module root) to out.
func build(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// moduleRoot is the directory of the go.mod of the current module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the enclave checkout")
	}
	return filepath.Dir(mod), nil
}

// registryProc is a registry running as a child process (cmd/regserver).
type registryProc struct {
	Host  string // 127.0.0.1:port
	Root  string // its filesystem storage
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// startRegistry starts bin (the regserver command) storing below root and
// waits for it to listen. The child exits when our end of its standard input
// closes, including when this process dies, and gets SIGKILL if this thread
// does.
func startRegistry(bin, root string) (*registryProc, error) {
	cmd := exec.Command(bin, "-root", root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	r := &registryProc{Root: root, cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		r.done <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		host, found := strings.CutPrefix(line, "listening on ")
		if !ok || !found {
			r.Close()
			return nil, fmt.Errorf("registry said %q, want \"listening on HOST:PORT\"", line)
		}
		r.Host = host
		return r, nil
	case <-time.After(30 * time.Second):
		r.Close()
		return nil, errors.New("registry did not start in 30s")
	}
}

// Close stops the registry: EOF on its standard input, SIGKILL after 10s.
func (r *registryProc) Close() error {
	r.stdin.Close()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		return <-r.done
	}
}

// registries starts registries by name on first use and stops them all.
type registries struct {
	bin, dir string
	procs    map[string]*registryProc
}

func (rs *registries) get(name string) (*registryProc, error) {
	if r, ok := rs.procs[name]; ok {
		return r, nil
	}
	r, err := startRegistry(rs.bin, filepath.Join(rs.dir, name))
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", name, err)
	}
	rs.procs[name] = r
	return r, nil
}

// drop stops registry name and deletes its storage.
func (rs *registries) drop(name string) {
	if r, ok := rs.procs[name]; ok {
		r.Close()
		os.RemoveAll(r.Root)
		delete(rs.procs, name)
	}
}

// cpu is the user and system time the named registries (every one running
// when none is named) have used: the bench's registries share the
// machine's cores with the tools, so a run's time is also what its
// registries spent.
func (rs *registries) cpu(names ...string) time.Duration {
	var total time.Duration
	if rs == nil {
		return 0
	}
	for name, r := range rs.procs {
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		if r.cmd != nil && r.cmd.Process != nil {
			total += procCPU(r.cmd.Process.Pid)
		}
	}
	return total
}

// procCPU reads the user and system time of process pid from /proc (0 when
// it cannot).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

func (rs *registries) closeAll() {
	for _, r := range rs.procs {
		r.Close()
	}
}

// dirSize is the total size of the regular files below path (or of path).
func dirSize(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// peakRSS samples the VmHWM (peak resident set size) of a running process
// from /proc. VmHWM is a high-water mark, so only growth in the last
// sampling interval before the process exits can be missed.
type peakRSS struct {
	done chan struct{}
	max  chan int64
}

// rssInterval is how often watchPeakRSS samples.
const rssInterval = 20 * time.Millisecond

func watchPeakRSS(pid int) *peakRSS {
	p := &peakRSS{done: make(chan struct{}), max: make(chan int64, 1)}
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		var max int64
		t := time.NewTicker(rssInterval)
		defer t.Stop()
		for {
			if n := vmHWM(path); n > max {
				max = n
			}
			select {
			case <-p.done:
				p.max <- max
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// stop ends the sampling; call it once the process has exited.
func (p *peakRSS) stop() {
	if p != nil {
		close(p.done)
	}
}

// bytes is the largest VmHWM seen, 0 if none (or p is nil).
func (p *peakRSS) bytes() int64 {
	if p == nil {
		return 0
	}
	return <-p.max
}

// vmHWM reads the VmHWM line of a /proc/PID/status file, in bytes; 0 when
// the process is gone or a zombie.
func vmHWM(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
