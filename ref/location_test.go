package ref

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		wantErr string
	}{
		{in: "file:///media/usb/content", want: Location{Transport: File, Path: "/media/usb/content"}},
		{in: "file://rel/dir", want: Location{Transport: File, Path: "rel/dir"}},
		{in: "docker://host:5000/prefix/", want: Location{Transport: Docker, Reference: Reference{Registry: "host:5000", Repository: "prefix"}}},
		{in: "docker://registry.internal", want: Location{Transport: Docker, Reference: Reference{Registry: "registry.internal"}}},
		{in: "docker://localhost/m", want: Location{Transport: Docker, Reference: Reference{Registry: "localhost", Repository: "m"}}},
		{in: "oci:///abs/path:v1", want: Location{Transport: OCI, Path: "/abs/path", Reference: Reference{Tag: "v1"}}},
		{in: "oci:///abs/path@" + string(dig), want: Location{Transport: OCI, Path: "/abs/path", Reference: Reference{Digest: dig}}},
		{in: "oci://rel/path", want: Location{Transport: OCI, Path: "rel/path"}},
		{in: "oci://C:\\layouts\\cat:v1", want: Location{Transport: OCI, Path: "C:\\layouts\\cat", Reference: Reference{Tag: "v1"}}},
		{in: "file://", wantErr: "names no directory"},
		{in: "file://a\x00b", wantErr: "NUL in path"},
		{in: "docker://mirror/x", wantErr: `"mirror" is not a registry host`},
		{in: "docker://host:5000/a@sha256:x", wantErr: "is not docker://HOST"},
		{in: "docker://host:5000/../x", wantErr: "is not docker://HOST"},
		{in: "docker://host:5000/Upper", wantErr: "must be lower case"},
		{in: "oci://../x:v1", wantErr: "no .. in the path"},
		{in: "oci://a\\..\\b:v1", wantErr: "no .. in the path"},
		{in: "oci:///x@sha256:../../etc/passwd", wantErr: "digest"},
		{in: "oci://", wantErr: "want oci://DIRECTORY"},
		{in: "https://example.com/x", wantErr: "want file://DIR"},
	}
	for _, tt := range tests {
		got, err := ParseLocation(tt.in)
		if tt.wantErr != "" {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseLocation(%q) = %+v, %v; want ErrInvalid containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if tt.want.Transport == File && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}
