package helm

import (
	"errors"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

func TestSelectCharts(t *testing.T) {
	rec := &Record{Charts: []ChartRecord{
		{Repository: "web", Name: "app", Requested: "", Version: "2.1.0"},
		{Repository: "web", Name: "app", Requested: "~1.4", Version: "1.4.2"},
		{Repository: "web", Name: "db", Requested: "", Version: "0.3.0"},
		{Repository: "oci", Name: "app", Requested: "", Version: "9.0.0"},
		{Repository: "web", Name: "broken", Error: "failed at pack"},
		{Name: "loc", Version: "0.1.0"},
	}}
	load := func(helm string) *imageset.Config {
		c, err := imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n"+helm), "isc.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	names := func(cs []ChartRecord) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Repository+"/"+c.Name+"@"+c.Version)
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		name, helm, want string
		wantErr          error
	}{
		{"no configuration: every chart that was carried", "", "web/app@2.1.0 web/app@1.4.2 web/db@0.3.0 oci/app@9.0.0 /loc@0.1.0", nil},
		{"no helm section: none", "  additionalImages:\n  - name: quay.io/a/b:1\n", "", nil},
		{"the same entry as at pack", "  helm:\n    repositories:\n    - name: web\n      url: https://x\n      charts:\n      - name: app\n        version: \"~1.4\"\n", "web/app@1.4.2", nil},
		{"a range over what was carried", "  helm:\n    repositories:\n    - name: web\n      url: https://x\n      charts:\n      - name: app\n        version: \">=2\"\n", "web/app@2.1.0", nil},
		{"a repository without charts", "  helm:\n    repositories:\n    - name: web\n      url: https://x\n", "web/app@2.1.0 web/app@1.4.2 web/db@0.3.0", nil},
		{"local by name", "  helm:\n    local:\n    - name: loc\n      path: /x\n", "/loc@0.1.0", nil},
		{"a version not carried", "  helm:\n    repositories:\n    - name: web\n      url: https://x\n      charts:\n      - name: app\n        version: \"3.0.0\"\n", "", section.ErrPrerequisites},
		{"a chart that failed at pack", "  helm:\n    repositories:\n    - name: web\n      url: https://x\n      charts:\n      - name: broken\n", "", section.ErrPrerequisites},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cfg *imageset.Config
			if tt.name != "no configuration: every chart that was carried" {
				cfg = load(tt.helm)
			}
			got, err := selectCharts(rec, cfg)
			if !errors.Is(err, tt.wantErr) || (err == nil && names(got) != tt.want) {
				t.Errorf("got %q, %v; want %q, %v", names(got), err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseRelative(t *testing.T) {
	for in, want := range map[string]string{
		"quay.io/a/b:1":            "quay.io/a/b:1",
		"localhost__5000/x/y:v1.2": "localhost__5000/x/y:v1.2",
		"docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	} {
		r, err := parseRelative(in)
		if err != nil || r.String() != want || r.Registry != "" {
			t.Errorf("%s: %v %v", in, r, err)
		}
	}
	for _, bad := range []string{"", "UPPER/x:1", "a//b:1", "a/b:bad tag"} {
		if _, err := parseRelative(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
