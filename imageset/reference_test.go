package imageset

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const (
	hex64  = "5d1b5d8d9d0d5b1f7b2c0a7d8d3c3e7c4e0b6d2f8a1a3c4e5f6a7b8c9d0e1f2a"
	dig256 = digest.Digest("sha256:" + hex64)
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Reference
		str     string
		wantErr string
	}{
		{name: "tag", in: "quay.io/org/app:1.2", want: Reference{Registry: "quay.io", Repository: "org/app", Tag: "1.2"}},
		{name: "digest", in: "quay.io/org/app@" + string(dig256), want: Reference{Registry: "quay.io", Repository: "org/app", Digest: dig256}},
		{name: "tag and digest", in: "quay.io/org/app:1.2@" + string(dig256), want: Reference{Registry: "quay.io", Repository: "org/app", Tag: "1.2", Digest: dig256}},
		{name: "docker hub short", in: "nginx", want: Reference{Registry: "docker.io", Repository: "library/nginx"}, str: "docker.io/library/nginx"},
		{name: "docker hub org", in: "bitnami/redis:7", want: Reference{Registry: "docker.io", Repository: "bitnami/redis", Tag: "7"}, str: "docker.io/bitnami/redis:7"},
		{name: "index.docker.io", in: "index.docker.io/nginx:1", want: Reference{Registry: "docker.io", Repository: "library/nginx", Tag: "1"}, str: "docker.io/library/nginx:1"},
		{name: "localhost", in: "localhost/app:1", want: Reference{Registry: "localhost", Repository: "app", Tag: "1"}},
		{name: "port", in: "registry:5000/a/b:c", want: Reference{Registry: "registry:5000", Repository: "a/b", Tag: "c"}},
		{name: "ipv6", in: "[::1]:5000/a:b", want: Reference{Registry: "[::1]:5000", Repository: "a", Tag: "b"}},
		{name: "separators", in: "r.io/a_b/c__d/e--f.g:T_1.x-y", want: Reference{Registry: "r.io", Repository: "a_b/c__d/e--f.g", Tag: "T_1.x-y"}},
		{name: "sha512", in: "r.io/a@sha512:" + strings.Repeat("ab", 64), want: Reference{Registry: "r.io", Repository: "a", Digest: digest.Digest("sha512:" + strings.Repeat("ab", 64))}},

		{name: "empty", in: "", wantErr: "empty"},
		{name: "uppercase", in: "quay.io/Org/app:1", wantErr: `repository "Org/app" must be lower case`},
		{name: "uppercase hub", in: "Nginx", wantErr: "must be lower case"},
		{name: "dotdot", in: "quay.io/a/../b:1", wantErr: `has a ".." path component`},
		{name: "dot", in: "quay.io/./b:1", wantErr: `has a "." path component`},
		{name: "empty component", in: "quay.io/a//b:1", wantErr: "empty path component"},
		{name: "trailing slash", in: "quay.io/a/:1", wantErr: "empty path component"},
		{name: "bad component", in: "quay.io/-a:1", wantErr: `invalid path component "-a"`},
		{name: "bad tag", in: "quay.io/a:.x", wantErr: `invalid tag ".x"`},
		{name: "long tag", in: "quay.io/a:" + strings.Repeat("x", 129), wantErr: "invalid tag"},
		{name: "empty tag", in: "quay.io/a:", wantErr: `invalid tag ""`},
		{name: "traversal digest", in: "quay.io/a@sha256:../../x", wantErr: `digest "sha256:../../x"`},
		{name: "short digest", in: "quay.io/a@sha256:abc", wantErr: "invalid checksum digest length"},
		{name: "upper digest", in: "quay.io/a@sha256:" + strings.ToUpper(hex64), wantErr: "invalid checksum digest format"},
		{name: "sha384", in: "quay.io/a@sha384:" + strings.Repeat("a", 96), wantErr: `algorithm "sha384" not supported`},
		{name: "digest no colon", in: "quay.io/a@abc", wantErr: "want <algorithm>:<hex>"},
		{name: "transport", in: "docker://quay.io/a:1", wantErr: "transport prefix"},
		{name: "space", in: "quay.io/a b:1", wantErr: "whitespace"},
		{name: "bad host", in: "quay_io.x/a:1", wantErr: `invalid registry host "quay_io.x"`},
		{name: "only tag", in: ":1", wantErr: "no repository name"},
		{name: "too long", in: "r.io/" + strings.Repeat("a", 251), wantErr: "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseReference(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q: want ErrInvalidReference containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Fatalf("String() = %q, want %q", got.String(), str)
			}
			// The canonical form parses to the same value.
			again, err := ParseReference(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip: %+v, %v", again, err)
			}
		})
	}
}

func TestReferenceUnder(t *testing.T) {
	rel := Reference{Repository: "org/app", Tag: "1.2", Digest: dig256}
	tests := []struct {
		name, root, want, wantErr string
	}{
		{name: "host", root: "registry.internal:5000", want: "registry.internal:5000/org/app:1.2@" + string(dig256)},
		{name: "prefix", root: "registry.internal/mirror/x/", want: "registry.internal/mirror/x/org/app:1.2@" + string(dig256)},
		{name: "localhost", root: "localhost/m", want: "localhost/m/org/app:1.2@" + string(dig256)},
		{name: "not a host", root: "mirror/x", wantErr: `"mirror" is not a registry host`},
		{name: "bad prefix", root: "r.io/Mirror", wantErr: "must be lower case"},
		{name: "tag in root", root: "r.io/m:1", wantErr: "invalid path component"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rel.Under(tt.root)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidReference containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := (Reference{Registry: "quay.io", Repository: "a"}).Under("r.io"); !errors.Is(err, ErrInvalidReference) {
		t.Fatalf("absolute reference: err = %v", err)
	}
}

func TestValidateTagAndPath(t *testing.T) {
	if err := ValidateTag("v1.2_3-x"); err != nil {
		t.Fatal(err)
	}
	if err := ValidateTag("a/b"); !errors.Is(err, ErrInvalidReference) {
		t.Fatalf("ValidateTag(a/b) = %v", err)
	}
	if err := ValidateRepositoryPath("org/app"); err != nil {
		t.Fatal(err)
	}
	if err := ValidateRepositoryPath("org/../app"); !errors.Is(err, ErrInvalidReference) {
		t.Fatalf("ValidateRepositoryPath = %v", err)
	}
}
