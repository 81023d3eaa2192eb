package cli

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// sample returns a value to type for f and the value the command must then
// read, as text.
func sample(f ucli.Flag) (typed []string, want string) {
	name := "--" + f.Names()[0]
	switch f := f.(type) {
	case *ucli.BoolFlag:
		// The opposite of the default, so that the effect is visible.
		if f.Value {
			return []string{name + "=false"}, "false"
		}
		return []string{name}, "true"
	case *ucli.IntFlag:
		return []string{name, "3"}, "3"
	case *ucli.DurationFlag:
		return []string{name, "7s"}, "7s"
	case *ucli.StringSliceFlag:
		return []string{name, "v-typed"}, "[v-typed]"
	default:
		return []string{name, "v-typed"}, "v-typed"
	}
}

// command is one command of an application: its path and its definition.
type command struct {
	path     []string // after the program name
	flags    []ucli.Flag
	required []string // tokens of its required flags
	args     []string // a positional argument it takes (none for the list subcommands)
	set      func(ucli.ActionFunc)
}

func commands(app *ucli.App) []command {
	out := []command{{flags: app.Flags, args: []string{"pos-arg"}, set: func(a ucli.ActionFunc) { app.Action = a }}}
	var walk func(prefix []string, cmds []*ucli.Command)
	walk = func(prefix []string, cmds []*ucli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(prefix), c.Name)
			if c.Action != nil {
				cmd := command{path: p, flags: c.Flags, args: []string{"pos-arg"}, set: func(a ucli.ActionFunc) { c.Action = a }}
				for _, f := range c.Flags {
					if r, ok := f.(ucli.RequiredFlag); ok && r.IsRequired() {
						cmd.required = append(cmd.required, "--"+f.Names()[0], "req")
					}
				}
				if len(c.Subcommands) == 0 && (c.Name == "releases" || c.Name == "operators") {
					cmd.args = nil
				}
				out = append(out, cmd)
			}
			walk(p, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
	return out
}

// TestEveryFlagEveryPosition types every flag of every command of both
// tools before the command's argument, after it, and (for a subcommand's
// flag the application also has) before the subcommand's name; the command
// must read the value typed in each case. A flag of the application typed
// for a subcommand that lacks it is a usage error naming the flag.
func TestEveryFlagEveryPosition(t *testing.T) {
	for _, mk := range []func() *ucli.App{PackApp, UnpackApp} {
		for ci, cmd := range commands(mk()) {
			for _, f := range cmd.flags {
				name := f.Names()[0]
				typed, want := sample(f)
				var positions [][]string
				positions = append(positions,
					slices.Concat(cmd.path, cmd.required, typed, cmd.args),
					slices.Concat(cmd.path, cmd.required, cmd.args, typed))
				if len(cmd.path) > 0 && findFlag(mk().Flags, name) != nil {
					positions = append(positions, slices.Concat(typed, cmd.path, cmd.required, cmd.args))
				}
				for _, args := range positions {
					app := mk()
					got, set := "", false
					commands(app)[ci].set(func(c *ucli.Context) error {
						set = c.IsSet(name)
						got = fmt.Sprint(c.Value(name))
						if v, ok := c.Value(name).(ucli.StringSlice); ok {
							got = fmt.Sprint(v.Value())
						}
						return nil
					})
					var out, errb bytes.Buffer
					code := Run(context.Background(), app, append([]string{app.Name}, args...), &out, &errb)
					if code != 0 || !set || got != want {
						t.Errorf("%s %s: exit %d, %s set=%v value %q, want %q\n%s", app.Name, strings.Join(args, " "), code, name, set, got, want, errb.String())
					}
				}
			}
		}
	}
}

func TestFlagInTheWrongCommand(t *testing.T) {
	for _, tc := range []struct {
		app  func() *ucli.App
		args []string
		want string
	}{
		{UnpackApp, []string{"--from", "file:///x", "inspect", "file:///a"}, "--from does not apply to enclave-unpack inspect"},
		{UnpackApp, []string{"inspect", "--from", "file:///x", "file:///a"}, "--from does not apply to enclave-unpack inspect"},
		{UnpackApp, []string{"inspect", "file:///a", "--dry-run"}, "--dry-run does not apply"},
		{PackApp, []string{"--sign-key", "k", "list", "releases", "--channel", "c"}, "--sign-key does not apply to enclave-pack list"},
		{PackApp, []string{"list", "releases", "--channel", "c", "--parallel", "3"}, "--parallel does not apply"},
		{UnpackApp, []string{"--dryrun", "docker://h:5000/m"}, "did you mean --dry-run?"},
		{PackApp, []string{"--compresion", "3", "file:///x"}, "did you mean --compression?"},
		{UnpackApp, []string{"--catalog-source", "both", "--from", "file:///x", "docker://h:5000/m"}, `--catalog-source "both": want filtered or original`},
	} {
		app := tc.app()
		var out, errb bytes.Buffer
		code := Run(context.Background(), app, append([]string{app.Name}, tc.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) || out.Len() != 0 {
			t.Errorf("%s %s: exit %d, stdout %d bytes, stderr:\n%s\nwant exit 2 and %q", app.Name, strings.Join(tc.args, " "), code, out.Len(), errb.String(), tc.want)
		}
	}
}

func TestNormalizeArgsKeepsDoubleDash(t *testing.T) {
	got, err := normalizeArgs(UnpackApp(), []string{"enclave-unpack", "--from", "file:///a", "--", "--not-a-flag"})
	if err != nil || strings.Join(got, " ") != "enclave-unpack --from file:///a -- --not-a-flag" {
		t.Fatalf("%q, %v", got, err)
	}
}
