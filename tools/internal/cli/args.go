package cli

import (
	"fmt"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// A flag means the same wherever the user types it. urfave/cli reads a
// command's flags only between its name and its first argument, and a
// subcommand's value hides the application's: `enclave-unpack --verify-key
// k verify DIR` once verified nothing. normalizeArgs rewrites the command
// line before urfave/cli sees it:
//
//   - flags typed after the arguments move before them (as oc-mirror and
//     podman accept them);
//   - a flag typed before a subcommand that the subcommand also has moves
//     into the subcommand;
//   - a flag typed before a subcommand that the subcommand does not have, or
//     after it when it belongs only to the application, is a usage error
//     that says where the flag belongs.
//
// Unknown flags are left for urfave/cli to refuse (with a suggestion, see
// suggest).

// level is one command of the line: the application or a subcommand.
type level struct {
	name     string // as typed ("enclave-unpack", "verify")
	flags    []ucli.Flag
	commands []*ucli.Command
	typed    []typedFlag
	args     []string
}

// typedFlag is one flag as the user typed it: its tokens ("--from", "x" or
// "--from=x") and its canonical name.
type typedFlag struct {
	name   string
	tokens []string
	// from is the command it was typed for, when it was carried down to
	// a subcommand that may have it.
	from string
}

func findFlag(flags []ucli.Flag, name string) ucli.Flag {
	if name == "help" || name == "h" {
		return ucli.HelpFlag
	}
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func takesValue(f ucli.Flag) bool {
	if d, ok := f.(ucli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return false
}

func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// flagName returns the name of a flag token ("--from=x" -> "from"), or ""
// for a token that is not a flag.
func flagName(tok string) (string, bool) {
	if len(tok) < 2 || tok[0] != '-' || tok == "--" {
		return "", false
	}
	name := strings.TrimLeft(tok, "-")
	name, _, hasValue := strings.Cut(name, "=")
	return name, hasValue
}

// normalizeArgs rewrites args (args[0] is the program) so that every flag
// reaches the command it belongs to; see the comment above.
func normalizeArgs(app *ucli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	levels := []*level{{name: app.Name, flags: app.Flags, commands: app.Commands}}
	cur := levels[0]
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		if tok == "--" {
			cur.args = append(cur.args, rest[i:]...)
			break
		}
		name, hasValue := flagName(tok)
		if name == "" {
			// An argument, or the subcommand when it comes before any.
			if len(cur.args) == 0 {
				if sub := findCommand(cur.commands, tok); sub != nil {
					next := &level{name: sub.Name, flags: sub.Flags, commands: sub.Subcommands}
					if err := handOver(path(levels), cur, next); err != nil {
						return nil, err
					}
					levels = append(levels, next)
					cur = next
					continue
				}
			}
			cur.args = append(cur.args, tok)
			continue
		}
		f := findFlag(cur.flags, name)
		if f == nil {
			for _, up := range levels[:len(levels)-1] {
				if findFlag(up.flags, name) != nil {
					return nil, Usagef("--%s does not apply to %s; it is a flag of %s itself (see %s --help)", name, path(levels), path(levels[:slices.Index(levels, up)+1]), path(levels[:slices.Index(levels, up)+1]))
				}
			}
			// Unknown here: urfave/cli refuses it with the usage.
			cur.typed = append(cur.typed, typedFlag{name: name, tokens: []string{tok}})
			continue
		}
		tf := typedFlag{name: f.Names()[0], tokens: []string{tok}}
		if takesValue(f) && !hasValue && i+1 < len(rest) {
			i++
			tf.tokens = append(tf.tokens, rest[i])
		}
		cur.typed = append(cur.typed, tf)
	}
	for _, tf := range cur.typed {
		if tf.from != "" && findFlag(cur.flags, tf.name) == nil {
			return nil, Usagef("--%s does not apply to %s; it is a flag of %s itself (see %s --help)", tf.name, path(levels), tf.from, tf.from)
		}
	}
	out := []string{args[0]}
	for i, l := range levels {
		if i > 0 {
			out = append(out, l.name)
		}
		for _, tf := range l.typed {
			out = append(out, tf.tokens...)
		}
	}
	return append(out, cur.args...), nil
}

// handOver moves the flags typed at from that next also has into next, and
// refuses those next does not have: from's own action will not run.
func handOver(at string, from, next *level) error {
	var keep []typedFlag
	for _, tf := range from.typed {
		switch {
		case tf.name == "help" || tf.name == "h":
			keep = append(keep, tf) // urfave/cli shows the help of from
		case findFlag(next.flags, tf.name) != nil:
			next.typed = append(next.typed, tf)
		case findFlag(from.flags, tf.name) == nil && tf.from == "":
			keep = append(keep, tf) // unknown: urfave/cli refuses it
		case len(next.commands) > 0:
			// A command of commands (enclave-pack list): one of its
			// subcommands may have the flag; decided at the end.
			if tf.from == "" {
				tf.from = at
			}
			next.typed = append(next.typed, tf)
		default:
			owner := at
			if tf.from != "" {
				owner = tf.from
			}
			return Usagef("--%s does not apply to %s %s; it is a flag of %s itself (see %s --help)", tf.name, at, next.name, owner, owner)
		}
	}
	from.typed = keep
	return nil
}

func path(levels []*level) string {
	names := make([]string, len(levels))
	for i, l := range levels {
		names[i] = l.name
	}
	return strings.Join(names, " ")
}

// suggest returns the flag of flags closest to name ("did you mean"), or "".
func suggest(flags []ucli.Flag, name string) string {
	best, bestD := "", 3 // at most two edits away
	for _, f := range flags {
		for _, n := range f.Names() {
			if d := editDistance(name, n); d < bestD || (d == bestD && best == "") && d < 3 {
				best, bestD = n, d
			}
			if len(name) >= 3 && strings.HasPrefix(n, name) && bestD > 1 {
				best, bestD = n, 1
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("--%s", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
