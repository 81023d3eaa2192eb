package ocistore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustRef(t *testing.T, s string) Reference {
	t.Helper()
	r, err := ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sourcesString(ps []PullSource) string {
	var parts []string
	for _, p := range ps {
		s := p.String()
		if p.Insecure {
			s += " (insecure)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

const exampleConf = `
unqualified-search-registries = ["example.com"]
short-name-mode = "enforcing"

[aliases]
"app" = "quay.io/org/app"

[[registry]]
prefix = "example.com/foo"
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true

[[registry]]
prefix = "example.com/foo/special"
blocked = true

[[registry]]
location = "quay.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror.local:5000/quay"

[[registry]]
prefix = "registry.redhat.io"
[[registry.mirror]]
location = "m.local/digests"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "m.local/tags"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "m.local/all"
pull-from-mirror = "all"

[[registry]]
prefix = "*.corp.example"
insecure = true
[[registry.mirror]]
location = "m.local/corp"

[[registry]]
prefix = "docker.io/library"
location = "hub-mirror.local/lib"

[[registry]]
location = "insecure.local:5000"
insecure = true
`

func TestPullSources(t *testing.T) {
	conf, err := ParseRegistriesConf("test.conf", []byte(exampleConf))
	if err != nil {
		t.Fatal(err)
	}
	if conf.ShortNameMode != "enforcing" || len(conf.UnqualifiedSearchRegistries) != 1 || conf.Aliases["app"] != "quay.io/org/app" {
		t.Errorf("globals not parsed: %+v", conf)
	}
	tests := []struct {
		name, ref, want string
		wantErr         error
	}{
		{name: "man page example", ref: "example.com/foo/image:latest",
			want: "mirror example-mirror-0.local/mirror-for-foo/image:latest, mirror example-mirror-1.local/mirrors/foo/image:latest (insecure), origin internal-registry-for-example.com/bar/image:latest"},
		{name: "longest prefix blocked", ref: "example.com/foo/special/x:1", wantErr: ErrBlocked},
		{name: "blocked exact", ref: "example.com/foo/special:1", wantErr: ErrBlocked},
		{name: "not a path prefix", ref: "example.com/foobar/x:1", want: "origin example.com/foobar/x:1"},
		{name: "no match", ref: "ghcr.io/a/b:1", want: "origin ghcr.io/a/b:1"},
		{name: "digest-only mirror skipped for tag", ref: "quay.io/org/app:1.2", want: "origin quay.io/org/app:1.2"},
		{name: "digest-only mirror used for digest", ref: "quay.io/org/app@" + dgstA,
			want: "mirror mirror.local:5000/quay/org/app@" + dgstA + ", origin quay.io/org/app@" + dgstA},
		{name: "pull-from-mirror tag", ref: "registry.redhat.io/ubi9/ubi:9",
			want: "mirror m.local/tags/ubi9/ubi:9, mirror m.local/all/ubi9/ubi:9, origin registry.redhat.io/ubi9/ubi:9"},
		{name: "pull-from-mirror digest", ref: "registry.redhat.io/ubi9/ubi@" + dgstA,
			want: "mirror m.local/digests/ubi9/ubi@" + dgstA + ", mirror m.local/all/ubi9/ubi@" + dgstA + ", origin registry.redhat.io/ubi9/ubi@" + dgstA},
		{name: "wildcard", ref: "a.b.corp.example/x/y:1", want: "mirror m.local/corp/x/y:1, origin a.b.corp.example/x/y:1 (insecure)"},
		{name: "wildcard not the bare domain", ref: "corp.example/x:1", want: "origin corp.example/x:1"},
		{name: "docker hub library", ref: "alpine:3", want: "origin hub-mirror.local/lib/alpine:3"},
		{name: "host prefix does not match other port", ref: "insecure.local:5001/a:1", want: "origin insecure.local:5001/a:1"},
		{name: "insecure origin", ref: "insecure.local:5000/a:1", want: "origin insecure.local:5000/a:1 (insecure)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := conf.PullSources(mustRef(t, tt.ref))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := sourcesString(got); s != tt.want {
				t.Fatalf("PullSources(%s)\n got %s\nwant %s", tt.ref, s, tt.want)
			}
		})
	}
	var empty *RegistriesConf
	if got, err := empty.PullSources(mustRef(t, "quay.io/a:1")); err != nil || sourcesString(got) != "origin quay.io/a:1" {
		t.Errorf("nil config: %v, %v", got, err)
	}
}

func TestRegistriesConfErrors(t *testing.T) {
	tests := []struct {
		name, conf, wantInMsg string
	}{
		{name: "unknown top key", conf: `unqualified-search-registry = ["x"]`, wantInMsg: `unknown key "unqualified-search-registry"`},
		{name: "unknown registry key", conf: "[[registry]]\nlocation = \"a.io\"\ninsecur = true", wantInMsg: `unknown key "registry.insecur"`},
		{name: "unknown mirror key", conf: "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"b.io\"\npull-from = \"all\"", wantInMsg: `unknown key "registry.mirror.pull-from"`},
		{name: "v1 format", conf: "[registries.search]\nregistries = ['a.io']", wantInMsg: "version 1"},
		{name: "syntax", conf: "[[registry]\n", wantInMsg: "test.conf"},
		{name: "no prefix or location", conf: "[[registry]]\ninsecure = true", wantInMsg: "neither prefix nor location"},
		{name: "bad pull-from-mirror", conf: "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"b.io\"\npull-from-mirror = \"sometimes\"", wantInMsg: "pull-from-mirror"},
		{name: "digest-only conflict", conf: "[[registry]]\nlocation = \"a.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"b.io\"\npull-from-mirror = \"tag-only\"", wantInMsg: "mirror-by-digest-only"},
		{name: "wildcard with location", conf: "[[registry]]\nprefix = \"*.a.io\"\nlocation = \"b.io\"", wantInMsg: "wildcard"},
		{name: "bad location", conf: "[[registry]]\nlocation = \"a.io/../etc\"", wantInMsg: "location"},
		{name: "mirror without location", conf: "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\ninsecure = true", wantInMsg: "no location"},
		{name: "short-name-mode", conf: `short-name-mode = "yolo"`, wantInMsg: "short-name-mode"},
		{name: "duplicate prefix", conf: "[[registry]]\nlocation = \"a.io\"\n[[registry]]\nprefix = \"a.io\"", wantInMsg: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRegistriesConf("test.conf", []byte(tt.conf))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) || !strings.Contains(err.Error(), "test.conf") {
				t.Fatalf("err = %q, want it to name the file and contain %q", err, tt.wantInMsg)
			}
		})
	}
}

func TestLoadRegistriesConfFiles(t *testing.T) {
	home := isolateEnv(t)
	system := filepath.Join(t.TempDir(), "registries.conf")

	// No file at all: empty configuration, not an error.
	conf, err := loadRegistriesConf("", home, system)
	if err != nil || len(conf.Registries) != 0 {
		t.Fatalf("no files: %+v, %v", conf, err)
	}

	writeFile(t, system, "unqualified-search-registries = [\"sys.io\"]\n[[registry]]\nlocation = \"a.io\"\n[[registry]]\nlocation = \"b.io\"\n")
	writeFile(t, system+".d/20-b.conf", "[[registry]]\nprefix = \"b.io\"\nblocked = true\n")
	writeFile(t, system+".d/10-a.conf", "unqualified-search-registries = [\"dropin.io\"]\n[[registry]]\nprefix = \"a.io\"\nlocation = \"first.io\"\n")
	writeFile(t, system+".d/30-a.conf", "[[registry]]\nprefix = \"a.io\"\nlocation = \"second.io\"\n")
	writeFile(t, system+".d/ignored.txt", "garbage")
	conf, err = loadRegistriesConf("", home, system)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(conf.UnqualifiedSearchRegistries, ","); got != "dropin.io" {
		t.Errorf("unqualified-search-registries = %q, want the drop-in's", got)
	}
	ps, err := conf.PullSources(mustRef(t, "a.io/x:1"))
	if err != nil || sourcesString(ps) != "origin second.io/x:1" {
		t.Errorf("later drop-in should win: %s, %v", sourcesString(ps), err)
	}
	if _, err := conf.PullSources(mustRef(t, "b.io/x:1")); !errors.Is(err, ErrBlocked) {
		t.Errorf("drop-in blocked: %v", err)
	}
	if len(conf.Files) != 4 {
		t.Errorf("files read: %v", conf.Files)
	}

	// The user's file replaces the system one (and its drop-ins).
	user := writeFile(t, filepath.Join(home, userRegistriesConf), "[[registry]]\nlocation = \"u.io\"\ninsecure = true\n")
	conf, err = loadRegistriesConf("", home, system)
	if err != nil || len(conf.Registries) != 1 || conf.Files[0] != user {
		t.Fatalf("user file: %+v, %v", conf, err)
	}

	// CONTAINERS_REGISTRIES_CONF beats the user file; it must exist.
	env := writeFile(t, filepath.Join(t.TempDir(), "env.conf"), "[[registry]]\nlocation = \"env.io\"\n")
	t.Setenv("CONTAINERS_REGISTRIES_CONF", env)
	conf, err = loadRegistriesConf("", home, system)
	if err != nil || conf.Files[0] != env {
		t.Fatalf("env file: %+v, %v", conf, err)
	}
	t.Setenv("CONTAINERS_REGISTRIES_CONF", env+".missing")
	if _, err := loadRegistriesConf("", home, system); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing env file: %v", err)
	}

	// An explicit path beats everything, and must exist.
	explicit := writeFile(t, filepath.Join(t.TempDir(), "x.conf"), "[[registry]]\nlocation = \"x.io\"\n")
	conf, err = loadRegistriesConf(explicit, home, system)
	if err != nil || conf.Files[0] != explicit {
		t.Fatalf("explicit: %+v, %v", conf, err)
	}
	if _, err := loadRegistriesConf(explicit+".missing", home, system); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing explicit file: %v", err)
	}

	// A bad drop-in is an error naming it.
	writeFile(t, explicit+".d/50-bad.conf", "bogus = 1\n")
	if _, err := loadRegistriesConf(explicit, home, system); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "50-bad.conf") {
		t.Fatalf("bad drop-in: %v", err)
	}
}

// TestHostNameCase: prefixes are compared byte for byte, as containers/image
// compares them; a reference whose match would differ with host names
// compared without case is refused rather than let escape a block.
func TestHostNameCase(t *testing.T) {
	conf, err := ParseRegistriesConf("case.conf", []byte(`
[[registry]]
prefix = "localhost:5701/org"
blocked = true

[[registry]]
prefix = "Registry.Example.com/team"
location = "Registry.Example.com/team"
[[registry.mirror]]
location = "m.local/team"

[[registry]]
prefix = "*.corp.example"
[[registry.mirror]]
location = "m.local/corp"
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref, want string
		wantErr   error
		say       string
	}{
		{ref: "localhost:5701/org/app:a", wantErr: ErrBlocked},
		{ref: "LOCALHOST:5701/org/app:a", wantErr: ErrInvalidReference, say: `matches no [[registry]] table, while its registry, whose host names are not case-sensitive, is also named by [[registry]] prefix "localhost:5701/org" in case.conf`},
		{ref: "LocalHost:5701/org/app@sha256:" + strings.Repeat("a", 64), wantErr: ErrInvalidReference},
		{ref: "localhost:5701/other/app:a", want: "origin localhost:5701/other/app:a"},
		{ref: "LOCALHOST:5701/other/app:a", want: "origin LOCALHOST:5701/other/app:a"},
		{ref: "Registry.Example.com/team/x:1", want: "mirror m.local/team/x:1, origin Registry.Example.com/team/x:1"},
		{ref: "registry.example.com/team/x:1", wantErr: ErrInvalidReference, say: `"Registry.Example.com/team"`},
		{ref: "a.corp.example/x:1", want: "mirror m.local/corp/x:1, origin a.corp.example/x:1"},
		{ref: "A.CORP.EXAMPLE/x:1", wantErr: ErrInvalidReference, say: `"*.corp.example"`},
	} {
		got, err := conf.PullSources(mustRef(t, tt.ref))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || (err != nil && !strings.Contains(err.Error(), tt.say)) {
				t.Errorf("%s: err = %v, want %v saying %q", tt.ref, err, tt.wantErr, tt.say)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.ref, err)
		} else if s := sourcesString(got); s != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.ref, s, tt.want)
		}
	}
}
