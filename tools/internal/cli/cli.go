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
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/ref"
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
	quietUsageErrors(app)
	args, err := normalizeArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		return mirror.ExitOK
	}
	code := mirror.ExitCode(err)
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		code = mirror.ExitUsage
	}
	fmt.Fprintf(stderr, "%s: error: %s\n", app.Name, progress.Printable(retry.RedactText(err.Error())))
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
		if s := suggest(allFlags(app), strings.TrimLeft(name, "-")); s != "" {
			fmt.Fprintf(stderr, "%s: did you mean %s?\n", app.Name, s)
		}
	}
	if code == mirror.ExitUsage && app.UsageText != "" {
		fmt.Fprintf(stderr, "usage:\n   %s\n", app.UsageText)
	}
	if hint := hintFor(code); hint != "" {
		fmt.Fprintf(stderr, "%s: %s\n", app.Name, hint)
	}
	return code
}

// quietUsageErrors makes a flag error one line (printed by Run) instead of
// the whole help text on stdout.
func quietUsageErrors(app *cli.App) {
	quiet := func(_ *cli.Context, err error, _ bool) error { return err }
	app.OnUsageError = quiet
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = quiet
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}

// allFlags returns the flags of app and of all its commands.
func allFlags(app *cli.App) []cli.Flag {
	out := append([]cli.Flag(nil), app.Flags...)
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			out = append(out, c.Flags...)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return out
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

// ParseLocation parses file:///abs/dir, file://rel/dir and docker://host/prefix
// (ref.ParseLocation's rules).
func ParseLocation(s string) (Location, error) {
	if !strings.HasPrefix(s, "file://") && !strings.HasPrefix(s, "docker://") {
		return Location{}, Usagef("%q: destinations are file://DIR or docker://HOST/PREFIX", s)
	}
	l, err := ref.ParseLocation(s)
	if err != nil {
		return Location{}, Usagef("%v", err)
	}
	if l.Transport == ref.File {
		return Location{Dir: l.Path}, nil
	}
	return Location{Registry: l.Root()}, nil
}

// ParseArchiveLocation parses a flag that names an archive directory
// (--from): file://DIR, or an absolute path, read as file://PATH (the oc-mirror
// enclave document writes "--from /local-disk"). A registry or a relative
// path without file:// is a usage error that says what the flag takes.
func ParseArchiveLocation(flag, s string) (Location, error) {
	if filepath.IsAbs(s) && !strings.Contains(s, "://") {
		return Location{Dir: filepath.Clean(s)}, nil
	}
	if !strings.HasPrefix(s, "file://") {
		return Location{}, Usagef("%s %q: %s takes the archive's directory: file://DIR or an absolute path such as /media/usb/content", flag, s, flag)
	}
	return ParseLocation(s)
}

// Common flags.
var (
	AuthFileFlag       = &cli.StringFlag{Name: "authfile", Usage: "registry credentials file (docker or podman format); default: REGISTRY_AUTH_FILE, then the podman and docker locations", EnvVars: []string{"REGISTRY_AUTH_FILE"}}
	RegistriesConfFlag = &cli.StringFlag{Name: "registries-conf", Usage: "registries.conf to read mirrors from (default: CONTAINERS_REGISTRIES_CONF, ~/.config/containers, /etc/containers)"}
	ParallelFlag       = &cli.IntFlag{Name: "parallel", Value: mirror.DefaultParallel, Usage: "images copied at once"}
	BlobParallelFlag   = &cli.IntFlag{Name: "blob-parallel", Value: mirror.DefaultBlobConcurrency, Usage: "blobs copied at once per image"}
	LogLevelFlag       = &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error; debug also prints structured (key=value) log lines"}
	LogFormatFlag      = &cli.StringFlag{Name: "log-format", Value: "text", Usage: "text: warnings and errors as sentences above the progress line; json: one JSON object a log record (for log collectors)"}
	NoReferrersFlag    = &cli.BoolFlag{Name: "no-referrers", Usage: "leave OCI referrers (signatures, SBOMs and attestations naming the image as their subject) behind; cosign tags still travel"}
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

// RemoveSignaturesFlag is oc-mirror's name for leaving signatures behind.
var RemoveSignaturesFlag = &cli.BoolFlag{Name: "remove-signatures", Usage: "leave signatures behind: every cosign tag (sha256-<digest>.sig, .att, .sbom) and the referrers that are signatures"}

// TLSFlag is --src-tls-verify or --dest-tls-verify.
func TLSFlag(side string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: side + "-tls-verify", Value: true,
		Usage: "verify TLS certificates of the " + side + " registries; false also allows plain HTTP for that side (never a silent fallback)"}
}

// Logger returns a logger at the flag's level whose records go through the
// progress reporter, so they never interleave with the live progress line.
// By default a record is one sentence ("warning: registry speaks plain
// HTTP; ... (registry 127.0.0.1:5000)"); --log-format json prints JSON
// objects, and --log-level debug structured key=value lines, for those who
// read logs with tools.
func Logger(c *cli.Context, rep *progress.Reporter) (*slog.Logger, error) {
	w := reporterWriter{rep}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String(LogLevelFlag.Name))); err != nil {
		return nil, Usagef("--log-level %q: use debug, info, warn or error", c.String(LogLevelFlag.Name))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch f := c.String(LogFormatFlag.Name); f {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		if lvl <= slog.LevelDebug {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(&sentenceHandler{rep: rep, level: lvl}), nil
	default:
		return nil, Usagef("--log-format %q: use text or json", f)
	}
}

// sentenceHandler prints each record as one sentence for a person: the
// level as a word ("warning: ", "error: "; none for info), the message,
// then the attributes in parentheses ("(registry 127.0.0.1:5000)"). No
// time stamp: the line appears as it happens.
type sentenceHandler struct {
	rep    *progress.Reporter
	level  slog.Level
	attrs  []slog.Attr
	prefix string // of the open groups, "group."
}

func (h *sentenceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *sentenceHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	var parts []string
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			for _, g := range v.Group() {
				add(prefix+a.Key+".", g)
			}
			return
		}
		if a.Key != "" {
			parts = append(parts, prefix+a.Key+" "+v.String())
		}
	}
	for _, a := range h.attrs {
		add("", a)
	}
	r.Attrs(func(a slog.Attr) bool { add(h.prefix, a); return true })
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	h.rep.Logf("%s", b.String())
	return nil
}

func (h *sentenceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *sentenceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
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

// LoadConfig loads -c when given and prints its warnings (fields accepted
// but ignored or not acted on yet), one "warning: " line each, before the
// command starts.
func LoadConfig(c *cli.Context) (*imageset.Config, error) {
	p := c.String(ConfigFlag.Name)
	if p == "" {
		return nil, nil
	}
	cfg, err := imageset.LoadFile(p)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(c.App.ErrWriter, "warning: "+progress.Printable(w))
	}
	return cfg, nil
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
