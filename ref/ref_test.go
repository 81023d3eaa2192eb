package ref

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

var dig = digest.Digest("sha256:" + strings.Repeat("ab", 32))

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Reference // zero: an error
	}{
		{"nginx", Reference{Registry: "docker.io", Repository: "library/nginx"}},
		{"index.docker.io/org/app:1", Reference{Registry: "docker.io", Repository: "org/app", Tag: "1"}},
		{"quay.io/org/app:1.2@" + string(dig), Reference{Registry: "quay.io", Repository: "org/app", Tag: "1.2", Digest: dig}},
		{"localhost:5000/a/b", Reference{Registry: "localhost:5000", Repository: "a/b"}},
		{"[::1]:5000/a:b", Reference{Registry: "[::1]:5000", Repository: "a", Tag: "b"}},
		// Docker's rule: an upper-case first component is a host. The two
		// parsers this package replaced disagreed on these (REVIEW.md 2).
		{"Foo/bar:1", Reference{Registry: "Foo", Repository: "bar", Tag: "1"}},
		{"LOCALHOST/app", Reference{Registry: "LOCALHOST", Repository: "app"}},
		{"quay.io/Org/app", Reference{}}, // upper case in the path
		{"quay.io/a/../b", Reference{}},  // path tricks
		{"quay.io/a@sha256:../../x", Reference{}},
		{"quay.io/a@sha1:" + strings.Repeat("a", 40), Reference{}},
		{"docker://quay.io/a:1", Reference{}}, // a transport is not part of a reference
		{"quay.io/a :1", Reference{}},
		{"quay.io/a:" + strings.Repeat("t", 129), Reference{}},
		{"quay.io/" + strings.Repeat("a", 300), Reference{}},
		{strings.Repeat("a", MaxInputLength+1), Reference{}},
		{"", Reference{}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.want == (Reference{}) {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%.60q) = %+v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestUnderAndRebase(t *testing.T) {
	rel := Reference{Repository: "org/app", Tag: "1"}
	got, err := rel.Under("host:5000/mirror/")
	if err != nil || got.String() != "host:5000/mirror/org/app:1" {
		t.Fatalf("Under = %v, %v", got, err)
	}
	for _, root := range []string{"mirror/x", "r.io/Mirror", "r.io/m:1"} {
		if _, err := rel.Under(root); !errors.Is(err, ErrInvalid) {
			t.Errorf("Under(%q) = %v, want ErrInvalid", root, err)
		}
	}
	src, _ := Parse("quay.io/org/app:1.2")
	dst := Reference{Registry: "host:5000", Repository: "mirror"}
	if got, err := src.Rebase(dst); err != nil || got.String() != "host:5000/mirror/org/app:1.2" {
		t.Fatalf("Rebase = %v, %v", got, err)
	}
	if _, err := src.Rebase(Reference{Registry: "host:5000", Tag: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Rebase onto a tagged prefix: %v", err)
	}
}

func TestDigestTag(t *testing.T) {
	if got := DigestTag(dig); got != "digest-sha256-"+strings.Repeat("ab", 16) {
		t.Fatalf("DigestTag = %s", got)
	}
	if err := ValidateTag(DigestTag(dig)); err != nil {
		t.Fatal(err)
	}
}

// FuzzParse: whatever parses prints back to itself, validates, and never
// carries a path element.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "quay.io/org/app:1.2@" + string(dig), "[::1]:5000/a:b", "a/../b", "r.io/a@sha256:x", "Foo/bar:1", "a@sha256:../../etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not validate: %v", s, r, err)
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("%q -> %q -> %+v, %v", s, r, again, err)
		}
		if strings.Contains(r.Repository, "..") || strings.Contains(string(r.Digest), "/") {
			t.Fatalf("%q: %+v carries a path element", s, r)
		}
	})
}
