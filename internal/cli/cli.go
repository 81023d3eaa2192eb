// Package cli holds what enclave-pack and enclave-unpack share: the
// signal-aware context, flags every command has, the parsing of file:// and
// docker:// locations, logging, and the mapping of errors to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ocistore/retry"
)

// Main runs app with the process's arguments and exits with its code. The
// first Ctrl-C cancels the run (which stops cleanly, exit 130); a second one
// exits at once.
func Main(app *cli.App) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "\ninterrupted: stopping (press Ctrl-C again to exit at once)")
		cancel()
		<-sig
		os.Exit(mirror.ExitInterrupted)
	}()
	os.Exit(profiled(func() int { return Run(ctx, app, os.Args, os.Stdout, os.Stderr) }))
}

// Run runs app in-process and returns the exit code (tests call it).
func Run(ctx context.Context, app *cli.App, args []string, stdout, stderr io.Writer) int {
	app.Writer, app.ErrWriter = stdout, stderr
	// urfave/cli calls os.Exit from cli.Exit errors unless this is set.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.RunContext(ctx, args)
	if err == nil {
		return mirror.ExitOK
	}
	code := mirror.ExitCode(err)
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		code = mirror.ExitUsage
	}
	fmt.Fprintf(stderr, "%s: error: %s\n", app.Name, progress.Printable(retry.RedactText(err.Error())))
	if hint := hintFor(code); hint != "" {
		fmt.Fprintf(stderr, "%s: %s\n", app.Name, hint)
	}
	return code
}

func hintFor(code int) string {
	switch code {
	case mirror.ExitUsage:
		return "see --help for usage"
	case mirror.ExitInterrupted:
		return "interrupted; run the same command again to finish (completed work is reused)"
	}
	return ""
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Usagef returns an error that exits with the usage code.
func Usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func isFlagError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "flag provided but not defined") || strings.HasPrefix(s, "invalid value") ||
		strings.Contains(s, "Required flag") || strings.HasPrefix(s, "flag needs an argument")
}

// Location is a parsed file:// or docker:// argument.
type Location struct {
	Dir      string // file://
	Registry string // docker://, "host[:port][/prefix]"
}

// ParseLocation parses file:///abs/dir, file://rel/dir and docker://host/prefix.
func ParseLocation(s string) (Location, error) {
	switch {
	case strings.HasPrefix(s, "file://"):
		dir := strings.TrimPrefix(s, "file://")
		if dir == "" {
			return Location{}, Usagef("%q names no directory", s)
		}
		if strings.ContainsRune(dir, 0) {
			return Location{}, Usagef("%q: NUL in path", s)
		}
		return Location{Dir: dir}, nil
	case strings.HasPrefix(s, "docker://"):
		reg := strings.TrimSuffix(strings.TrimPrefix(s, "docker://"), "/")
		host, _, _ := strings.Cut(reg, "/")
		if host == "" || strings.ContainsAny(reg, " \t\n@") || strings.Contains(reg, "..") {
			return Location{}, Usagef("%q is not docker://HOST[:PORT][/PREFIX]", s)
		}
		if !strings.ContainsAny(host, ".:") && host != "localhost" {
			return Location{}, Usagef("%q: %q is not a registry host (it needs a dot, a port, or to be localhost)", s, host)
		}
		if _, err := (imageset.Reference{Repository: "x", Tag: "t"}).Under(reg); err != nil {
			return Location{}, Usagef("%q: %v", s, err)
		}
		return Location{Registry: reg}, nil
	}
	return Location{}, Usagef("%q: destinations are file://DIR or docker://HOST/PREFIX", s)
}

// Common flags.
var (
	AuthFileFlag       = &cli.StringFlag{Name: "authfile", Usage: "registry credentials file (docker or podman format); default: REGISTRY_AUTH_FILE, then the podman and docker locations", EnvVars: []string{"REGISTRY_AUTH_FILE"}}
	RegistriesConfFlag = &cli.StringFlag{Name: "registries-conf", Usage: "registries.conf to read mirrors from (default: CONTAINERS_REGISTRIES_CONF, ~/.config/containers, /etc/containers)"}
	ParallelFlag       = &cli.IntFlag{Name: "parallel", Value: mirror.DefaultParallel, Usage: "images copied at once"}
	BlobParallelFlag   = &cli.IntFlag{Name: "blob-parallel", Value: mirror.DefaultBlobConcurrency, Usage: "blobs copied at once per image"}
	LogLevelFlag       = &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"}
	NoReferrersFlag    = &cli.BoolFlag{Name: "no-referrers", Usage: "leave signatures, SBOMs and attestations behind"}
	DryRunFlag         = &cli.BoolFlag{Name: "dry-run", Usage: "print the plan (each source -> destination, what would be skipped and why, bytes); copy nothing"}
	ConfigFlag         = &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "ImageSetConfiguration (isc.yaml)"}
)

// Network timeout flags, common to both tools (see README "Timeouts and
// limits").
var (
	ConnectTimeoutFlag  = &cli.DurationFlag{Name: "connect-timeout", Value: ocistore.DefaultConnectTimeout, Usage: "bound on a TCP connect, and on a TLS handshake"}
	ResponseTimeoutFlag = &cli.DurationFlag{Name: "response-timeout", Value: ocistore.DefaultResponseTimeout, Usage: "bound on the wait for a registry's response headers once a request is sent"}
	StallTimeoutFlag    = &cli.DurationFlag{Name: "stall-timeout", Value: ocistore.DefaultStallTimeout, Usage: "fail a transfer that moves less than 1 KiB per second, averaged over this long spent waiting on the registry"}
	RetryBudgetFlag     = &cli.DurationFlag{Name: "retry-budget", Value: retry.DefaultBudget, Usage: "bound on one request's attempts and the waits between them"}
)

// TLSFlag is --src-tls-verify or --dest-tls-verify.
func TLSFlag(side string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: side + "-tls-verify", Value: true,
		Usage: "verify TLS certificates of the " + side + " registries; false also allows plain HTTP for that side (never a silent fallback)"}
}

// Logger returns a logger at the flag's level whose records go through the
// progress reporter, so they never interleave with the live progress line.
func Logger(c *cli.Context, rep *progress.Reporter) (*slog.Logger, error) {
	w := reporterWriter{rep}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String(LogLevelFlag.Name))); err != nil {
		return nil, Usagef("--log-level %q: use debug, info, warn or error", c.String(LogLevelFlag.Name))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// RegistryOptions builds the registry options of one side.
func RegistryOptions(c *cli.Context, side string, log *slog.Logger, rep *progress.Reporter) ocistore.Options {
	return ocistore.Options{
		AuthFile:       c.String(AuthFileFlag.Name),
		RegistriesConf: c.String(RegistriesConfFlag.Name),
		SkipTLSVerify:  !c.Bool(side + "-tls-verify"),
		UserAgent:      "enclave",
		Logger:         log,
		Timeouts: ocistore.Timeouts{Connect: c.Duration(ConnectTimeoutFlag.Name),
			Response: c.Duration(ResponseTimeoutFlag.Name), Stall: c.Duration(StallTimeoutFlag.Name)},
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return retry.NewTransport(rt, retry.Options{Budget: c.Duration(RetryBudgetFlag.Name), OnRetry: func(req *http.Request, attempt int, wait time.Duration, reason string) {
				rep.Logf("retry %d of %s %s in %s: %s", attempt, req.Method, req.URL.Host+req.URL.Path, wait.Round(time.Millisecond), reason)
			}})
		},
	}
}

// LoadConfig loads -c when given.
func LoadConfig(c *cli.Context) (*imageset.Config, error) {
	p := c.String(ConfigFlag.Name)
	if p == "" {
		return nil, nil
	}
	return imageset.LoadFile(p)
}

// Reporter makes the progress reporter for a run, writing to w.
func Reporter(w io.Writer, verb string) *progress.Reporter {
	return progress.New(progress.Options{Out: w, Verb: verb})
}

// reporterWriter hands each log record to the reporter as one line.
type reporterWriter struct{ rep *progress.Reporter }

func (w reporterWriter) Write(p []byte) (int, error) {
	w.rep.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
