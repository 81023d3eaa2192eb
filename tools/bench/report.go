//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// machine describes where the numbers were measured.
type machine struct {
	CPU     string
	Cores   int
	Memory  string
	Kernel  string
	Go      string
	Date    string
	Workdir string
}

func describeMachine(workdir string) machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Workdir: workdir}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(strings.TrimPrefix(string(out), "go version "))
	}
	return m
}

func (m machine) lines() []string {
	return []string{
		fmt.Sprintf("CPU: %s, %d cores; memory %s; %s", m.CPU, m.Cores, m.Memory, m.Kernel),
		fmt.Sprintf("Go: %s; date: %s; workdir: %s", m.Go, m.Date, m.Workdir),
	}
}

// Formatting of the cells. MB is 10^6 bytes, MiB 2^20.
func fmtBytes(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func fmtRate(r float64) string {
	if r <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", r/1e6)
}

func (r row) cells() []string {
	note := r.note
	if r.reads != "" {
		note = strings.TrimPrefix(note+"; "+r.reads, "; ")
	}
	if r.registryCPU > 0 {
		note = strings.TrimPrefix(fmt.Sprintf("%s; registry CPU %.1fs", note, r.registryCPU.Seconds()), "; ")
	}
	c := []string{r.name, "-", "-", "-", "-", "-", "-", "-", note}
	if !r.measured {
		return c
	}
	c[1] = fmtBytes(r.bytes)
	c[2] = fmt.Sprintf("%.2fs", r.wall.Seconds())
	rate := float64(r.bytes) / r.wall.Seconds()
	c[3] = fmtRate(rate)
	if r.limit > 0 && !r.isLimit {
		c[4] = fmt.Sprintf("%.0f%% of %s", 100*rate/r.limit, r.limitOf)
	}
	if r.versus != "" {
		c[4] = r.versus
	}
	if r.cpu > 0 {
		c[5] = fmt.Sprintf("%.1fs", r.cpu.Seconds())
	}
	if r.maxRSS > 0 {
		c[6] = fmt.Sprintf("%.0f MiB", float64(r.maxRSS)/(1<<20))
	}
	if r.archive > 0 && r.bytes > 0 {
		c[7] = fmt.Sprintf("%.3f", float64(r.archive)/float64(r.bytes))
	}
	if r.images > 0 {
		c[8] = strings.TrimSuffix(fmt.Sprintf("%d images: %s wall, %s CPU per image (limit %s); %s", r.images,
			perImage(r.wall, r.images), perImage(r.cpu, r.images), perImage(cpuPerImageLimit, 1), r.note), "; ")
	}
	return c
}

// cpuPerImageLimit is the target for the tool's own CPU time per image of
// an operator catalog (issue 14).
const cpuPerImageLimit = 5 * time.Millisecond

func perImage(d time.Duration, n int) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(n)/float64(time.Millisecond))
}

var header = []string{"run", "bytes", "wall", "MB/s", "vs limit", "CPU", "peak RSS", "archive/unique", "note"}

// writeTable prints the machine, the corpus and one aligned table.
func writeTable(w io.Writer, m machine, corpus []string, rows []row) error {
	for _, l := range append(m.lines(), corpus...) {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	return tw.Flush()
}

// writeMarkdown writes the same as a Markdown section for BENCHMARKS.md.
func writeMarkdown(w io.Writer, m machine, corpus []string, rows []row) error {
	fmt.Fprintf(w, "## make bench, %s\n\n", m.Date)
	for _, l := range append(m.lines(), corpus...) {
		fmt.Fprintf(w, "- %s\n", l)
	}
	fmt.Fprintf(w, "\n| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
	for _, r := range rows {
		c := r.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
	fmt.Fprintln(w, "\nLimits are measured in the same run: GET and PUT of every unique blob of release 1 with", "parallel workers against registries in their own processes, and a sequential write with fsync in the work directory.", "MB/s is 10^6 bytes per second of unique blob bytes; peak RSS is the tool's, not the registries'.")
	_, err := fmt.Fprintln(w)
	return err
}
