package ocistore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const (
	hexA    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dgstA   = "sha256:" + hexA
	dgst512 = "sha512:" + hexA + hexA
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Reference
		wantErr error
	}{
		{name: "tag", in: "quay.io/org/app:1.2", want: Reference{Registry: "quay.io", Repository: "org/app", Tag: "1.2"}},
		{name: "digest", in: "quay.io/org/app@" + dgstA, want: Reference{Registry: "quay.io", Repository: "org/app", Digest: dgstA}},
		{name: "tag and digest", in: "quay.io/org/app:1.2@" + dgstA, want: Reference{Registry: "quay.io", Repository: "org/app", Tag: "1.2", Digest: dgstA}},
		{name: "sha512", in: "quay.io/org/app@" + dgst512, want: Reference{Registry: "quay.io", Repository: "org/app", Digest: dgst512}},
		{name: "port", in: "host:5000/mirror/org/app", want: Reference{Registry: "host:5000", Repository: "mirror/org/app"}},
		{name: "localhost", in: "localhost/app:v1", want: Reference{Registry: "localhost", Repository: "app", Tag: "v1"}},
		{name: "docker hub short", in: "alpine", want: Reference{Registry: "docker.io", Repository: "library/alpine"}},
		{name: "docker hub user", in: "user/app:1", want: Reference{Registry: "docker.io", Repository: "user/app", Tag: "1"}},
		{name: "docker hub explicit", in: "docker.io/alpine:3", want: Reference{Registry: "docker.io", Repository: "library/alpine", Tag: "3"}},
		{name: "index.docker.io", in: "index.docker.io/library/alpine", want: Reference{Registry: "docker.io", Repository: "library/alpine"}},
		{name: "separators", in: "r.io/a__b/c-d--e/f.g:T_1.x-y", want: Reference{Registry: "r.io", Repository: "a__b/c-d--e/f.g", Tag: "T_1.x-y"}},
		{name: "ipv6", in: "[::1]:5000/app", want: Reference{Registry: "[::1]:5000", Repository: "app"}},

		{name: "traversal digest", in: "quay.io/org/app@sha256:../../etc/passwd", wantErr: ErrInvalidReference},
		{name: "63 hex", in: "quay.io/org/app@sha256:" + hexA[:63], wantErr: ErrInvalidReference},
		{name: "uppercase hex", in: "quay.io/org/app@sha256:" + strings.ToUpper(hexA), wantErr: ErrInvalidReference},
		{name: "sha1", in: "quay.io/org/app@sha1:" + hexA[:40], wantErr: ErrInvalidReference},
		{name: "sha512 with 64 hex", in: "quay.io/org/app@sha512:" + hexA, wantErr: ErrInvalidReference},
		{name: "empty digest", in: "quay.io/org/app@", wantErr: ErrInvalidReference},
		{name: "newline", in: "quay.io/org/app:1\n", wantErr: ErrInvalidReference},
		{name: "NUL", in: "quay.io/org/a\x00pp", wantErr: ErrInvalidReference},
		{name: "dotdot", in: "quay.io/org/../app", wantErr: ErrInvalidReference},
		{name: "uppercase repo", in: "quay.io/Org/app", wantErr: ErrInvalidReference},
		{name: "backslash", in: `quay.io/org\app`, wantErr: ErrInvalidReference},
		{name: "empty component", in: "quay.io/org//app", wantErr: ErrInvalidReference},
		{name: "tag too long", in: "quay.io/app:" + strings.Repeat("a", 129), wantErr: ErrInvalidReference},
		{name: "tag starts with dot", in: "quay.io/app:.x", wantErr: ErrInvalidReference},
		{name: "empty", in: "", wantErr: ErrInvalidReference},
		{name: "name too long", in: "quay.io/" + strings.Repeat("a", 260), wantErr: ErrInvalidReference},
		{name: "bad host", in: "-bad.io/app", wantErr: ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseReference(%q) = %+v, %v; want %v", tt.in, got, err, tt.wantErr)
				}
				if Classify(err) != KindInvalid {
					t.Errorf("Classify = %v, want invalid", Classify(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// String round-trips.
			again, err := ParseReference(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestReferenceValidate(t *testing.T) {
	bad := []Reference{
		{Registry: "quay.io", Repository: "../x"},
		{Registry: "quay.io", Repository: "a", Digest: digest.Digest("sha256:" + hexA[:63])},
		{Registry: "quay.io", Repository: "a", Tag: "a/b"},
		{Registry: "quay.io/x", Repository: "a"},
	}
	// A relative reference is valid (ref.Reference.Under places it); the
	// client refuses one without a registry.
	if _, err := (&Client{}).repository(context.Background(), Reference{Repository: "a"}, false); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("repository of a relative reference: %v, want ErrInvalidReference", err)
	}
	for _, r := range bad {
		if err := r.Validate(); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("Validate(%#v) = %v, want ErrInvalidReference", r, err)
		}
	}
}

func TestRebase(t *testing.T) {
	tests := []struct {
		name, src, dst, want string
		wantErr              error
	}{
		{name: "tag", src: "quay.io/org/app:1.2", dst: "host:5000/mirror", want: "host:5000/mirror/org/app:1.2"},
		{name: "digest kept", src: "quay.io/org/app:1.2@" + dgstA, dst: "host:5000/mirror", want: "host:5000/mirror/org/app:1.2@" + dgstA},
		{name: "registry only", src: "quay.io/org/app@" + dgstA, dst: "host:5000", want: "host:5000/org/app@" + dgstA},
		{name: "docker hub", src: "alpine:3", dst: "host:5000/m", want: "host:5000/m/library/alpine:3"},
		{name: "dst with tag", src: "quay.io/org/app:1.2", dst: "host:5000/m:tag", wantErr: ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := ParseReference(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			host, prefix, _ := strings.Cut(tt.dst, "/")
			dst := Reference{Registry: host, Repository: prefix}
			if name, tag, ok := strings.Cut(prefix, ":"); ok {
				dst.Repository, dst.Tag = name, tag
			}
			got, err := src.Rebase(dst)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("Rebase = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
