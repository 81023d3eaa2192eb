package catalog

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/enclave-mirror/enclave/imageset"
)

// operator parses one mirror.operators entry (YAML lines below "catalog:")
// with the project's ISC loader, as a user's file would be.
func operator(t testing.TB, snippet string) (imageset.Operator, error) {
	t.Helper()
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: quay.example/demo/catalog:v1\n")
	for line := range strings.Lines(strings.TrimSpace(snippet)) {
		if strings.TrimSpace(line) != "" {
			b.WriteString("    " + line)
		}
	}
	b.WriteString("\n")
	cfg, err := imageset.Load(strings.NewReader(b.String()), "isc.yaml")
	if err != nil {
		return imageset.Operator{}, err
	}
	return cfg.Mirror.Operators[0], nil
}

// summary is a one-line account of a selection: per package the default
// channel and each channel's kept entries by version, deprecations kept.
func summary(s *Selection) string {
	var parts []string
	for _, p := range s.Packages {
		var b strings.Builder
		fmt.Fprintf(&b, "%s(%s)", p.Name, p.DefaultChannel)
		for _, c := range p.Channels {
			var bs []*Bundle
			for _, e := range c.Entries {
				bs = append(bs, s.Catalog.Package(p.Name).Bundle(e.Name))
			}
			slices.SortFunc(bs, func(a, b *Bundle) int {
				if n := a.version.Compare(b.version); n != 0 {
					return n
				}
				return strings.Compare(a.Version, b.Version)
			})
			var vs []string
			for _, b := range bs {
				vs = append(vs, b.Version)
			}
			fmt.Fprintf(&b, " %s=[%s]", c.Name, strings.Join(vs, " "))
		}
		if len(p.Deprecations) > 0 {
			var ds []string
			for _, d := range p.Deprecations {
				ds = append(ds, strings.TrimPrefix(d.Schema, "olm.")+":"+d.Name)
			}
			fmt.Fprintf(&b, " deprecated=[%s]", strings.Join(ds, " "))
		}
		parts = append(parts, b.String())
	}
	var others []string
	for _, o := range s.Others {
		others = append(others, o.Schema)
	}
	return strings.Join(parts, "; ") + " | others=[" + strings.Join(others, " ") + "]"
}

// render is the golden form of a selection: everything a caller consumes.
func render(s *Selection) string {
	var b strings.Builder
	fmt.Fprintf(&b, "catalog %s unfiltered=%v\n", s.Catalog.Image.Digest, s.Unfiltered)
	for _, p := range s.Packages {
		fmt.Fprintf(&b, "package %s default=%s\n", p.Name, p.DefaultChannel)
		for _, c := range p.Channels {
			fmt.Fprintf(&b, "  channel %s head=%s\n", c.Name, c.Head)
			for _, e := range c.Entries {
				fmt.Fprintf(&b, "    entry %s replaces=%q skips=%q skipRange=%q\n", e.Name, e.Replaces, e.Skips, e.SkipRange)
			}
		}
		for _, bd := range p.Bundles {
			fmt.Fprintf(&b, "  bundle %s version=%s\n", bd.Name, bd.Version)
			for _, img := range bd.Images() {
				fmt.Fprintf(&b, "    image %s\n", img)
			}
		}
		for _, d := range p.Deprecations {
			fmt.Fprintf(&b, "  deprecation %s %q: %q\n", d.Schema, d.Name, d.Message)
		}
	}
	for _, o := range s.Others {
		fmt.Fprintf(&b, "other %s package=%q name=%q\n", o.Schema, o.Package, o.Name)
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(&b, "warning %s\n", w)
	}
	fmt.Fprintf(&b, "images %d\n", len(s.Images()))
	return b.String()
}

type filterCase struct {
	id      string
	isc     string
	want    string // summary, when no error
	wantErr error
	errHas  string
	// loadErr: the configuration is refused when loaded (imageset).
	loadErr string
}

// demoCases are OPERATORS.md 3.8's golden specifications over the invented
// catalog. Where enclave deliberately differs from oc-mirror (3.9, and the
// issue's rule that a configuration naming what the catalog lacks is an
// error), the comment says so.
var demoCases = []filterCase{
	{id: "G01", isc: ``,
		want: "alpha(stable) candidate=[2.2.0-rc.1] fast=[2.1.0] stable=[2.0.0]; beta(v2) v1=[1.1.0] v2=[2.1.0] deprecated=[package: channel:v1]; gamma(stable) stable=[0.1.0] | others=[example.custom example.global]"},
	{id: "G02", isc: `full: true`,
		want: "alpha(stable) candidate=[2.1.0 2.2.0-rc.1] fast=[1.2.0 2.0.0 2.1.0] stable=[1.0.0 1.1.0 1.1.1 1.2.0 2.0.0]; beta(v2) v1=[1.0.0 1.1.0] v2=[1.1.0 2.0.0 2.1.0] deprecated=[package: channel:v1 bundle:beta.v1.0.0]; gamma(stable) stable=[0.1.0] | others=[example.custom example.global]"},
	{id: "G03", isc: "packages:\n- name: alpha",
		want: "alpha(stable) candidate=[2.2.0-rc.1] fast=[2.1.0] stable=[2.0.0] | others=[example.global]"},
	{id: "G04", isc: "full: true\npackages:\n- name: alpha",
		want: "alpha(stable) candidate=[2.1.0 2.2.0-rc.1] fast=[1.2.0 2.0.0 2.1.0] stable=[1.0.0 1.1.0 1.1.1 1.2.0 2.0.0] | others=[example.global]"},
	{id: "G05", isc: "packages:\n- name: alpha\n  channels:\n  - name: fast",
		wantErr: ErrNotInCatalog, errHas: `the default channel "stable" was filtered out`},
	{id: "G06", isc: "packages:\n- name: alpha\n  defaultChannel: fast\n  channels:\n  - name: fast",
		want: "alpha(fast) fast=[2.1.0] | others=[example.global]"},
	{id: "G07", isc: "packages:\n- name: alpha\n  minVersion: 1.1.0",
		want: "alpha(stable) candidate=[2.1.0] fast=[1.2.0 2.0.0 2.1.0] stable=[1.1.0 1.1.1 1.2.0 2.0.0] | others=[example.global]"},
	{id: "G08", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n    minVersion: 1.1.0\n    maxVersion: 1.2.0",
		want: "alpha(stable) stable=[1.1.0 1.1.1 1.2.0] | others=[example.global]"},
	{id: "G09", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n    minVersion: 1.2.0\n    maxVersion: 1.2.0",
		want: "alpha(stable) stable=[1.2.0] | others=[example.global]"},
	{id: "G10", isc: "packages:\n- name: alpha\n  maxVersion: 0.9.0",
		wantErr: ErrEmptyChannel, errHas: `package "alpha" channel "stable" has version range " <=0.9.0" that results in an empty channel`},
	{id: "G11", isc: "full: true\npackages:\n- name: alpha\n  minVersion: 1.0.0",
		wantErr: ErrInvalidFilter, errHas: "Full: true cannot be mixed with versionRange"},
	// G12: refused at load (imageset), as OPERATORS.md 3.2 says oc-mirror
	// does; Filter refuses it too when given such an Operator in code.
	{id: "G12", isc: "packages:\n- name: alpha\n  minVersion: 1.0.0\n  channels:\n  - name: stable\n    minVersion: 1.1.0",
		loadErr: "minVersion/maxVersion on both the package and channel"},
	// G13, G14: oc-mirror ignores an unknown package; enclave names it.
	{id: "G13", isc: "packages:\n- name: nosuch",
		wantErr: ErrNotInCatalog, errHas: `package "nosuch" is not in catalog`},
	{id: "G14", isc: "packages:\n- name: gamma\n- name: nosuch",
		wantErr: ErrNotInCatalog, errHas: "(it offers: alpha, beta, gamma)"},
	// G15, G16: oc-mirror ignores an unknown channel (G15 then fails with
	// the misleading default-channel error); enclave names it.
	{id: "G15", isc: "packages:\n- name: alpha\n  channels:\n  - name: nosuch",
		wantErr: ErrNotInCatalog, errHas: `package "alpha" has no channel "nosuch" (it offers: candidate, fast, stable)`},
	{id: "G16", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n  - name: nosuch",
		wantErr: ErrNotInCatalog, errHas: `has no channel "nosuch"`},
	{id: "G17", isc: "packages:\n- name: beta",
		want: "beta(v2) v1=[1.1.0] v2=[2.1.0] deprecated=[package: channel:v1] | others=[example.custom example.global]"},
	{id: "G18", isc: "packages:\n- name: beta\n  channels:\n  - name: v2\n    minVersion: 1.0.0",
		want: "beta(v2) v2=[1.1.0 2.0.0 2.1.0] deprecated=[package:] | others=[example.custom example.global]"},
	{id: "G19", isc: "packages:\n- name: alpha\n  defaultChannel: candidate\n  channels:\n  - name: candidate\n    minVersion: 2.0.0",
		want: "alpha(candidate) candidate=[2.1.0] | others=[example.global]"},
	{id: "G20", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n    maxVersion: 1.2.0",
		want: "alpha(stable) stable=[1.0.0 1.1.0 1.1.1 1.2.0] | others=[example.global]"},
	{id: "G21", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n    minVersion: 1.1.1",
		want: "alpha(stable) stable=[1.1.1 1.2.0 2.0.0] | others=[example.global]"},
	// G22: oc-mirror emits an invalid catalog (stable empty); enclave fails.
	{id: "G22", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n    minVersion: 2.1.0\n    maxVersion: 2.1.0",
		wantErr: ErrNotInCatalog, errHas: `channel "stable" has no bundle of version 2.1.0 (channel versions: 1.0.0, 1.1.0, 1.1.1, 1.2.0, 2.0.0)`},
	{id: "G23", isc: "full: true\npackages:\n- name: alpha\n  defaultChannel: fast\n  channels:\n  - name: fast",
		want: "alpha(fast) fast=[1.2.0 2.0.0 2.1.0] | others=[example.global]"},
	{id: "G24", isc: "packages:\n- name: alpha\n  defaultChannel: candidate\n  channels:\n  - name: candidate\n    minVersion: 2.2.0-rc.0",
		want: "alpha(candidate) candidate=[2.2.0-rc.1] | others=[example.global]"},
	{id: "G25", isc: "packages:\n- name: alpha\n  defaultChannel: fast",
		want: "alpha(fast) candidate=[2.2.0-rc.1] fast=[2.1.0] stable=[2.0.0] | others=[example.global]"},
	{id: "G26", isc: "packages:\n- name: alpha\n  maxVersion: 1.2.0",
		want: "alpha(stable) fast=[1.2.0] stable=[1.0.0 1.1.0 1.1.1 1.2.0] | others=[example.global]"},
	// G27: oc-mirror emits an invalid catalog (default channel dropped);
	// enclave fails.
	{id: "G27", isc: "packages:\n- name: alpha\n  defaultChannel: candidate\n  channels:\n  - name: candidate\n    minVersion: 3.0.0\n  - name: stable",
		wantErr: ErrEmptyChannel, errHas: `channel "candidate" has version range ">=3.0.0" that results in an empty channel`},
	{id: "G28", isc: "packages:\n- name: alpha\n  channels:\n  - name: stable\n    minVersion: 9.9.9\n    maxVersion: 9.9.9",
		wantErr: ErrNotInCatalog, errHas: "error finding specific bundle: specific version 9.9.9 not found in bundles"},
}

// realCases are OPERATORS.md 3.8's goldens over the real fixtures.
var realCases = []filterCase{
	{id: "R1", isc: "packages:\n- name: infinispan",
		want: "infinispan(stable) 2.2.x=[2.2.5] 2.3.x=[2.3.8] 2.4.x=[2.4.18] stable=[2.5.14] | others=[]"},
	{id: "R2", isc: "packages:\n- name: infinispan\n  defaultChannel: 2.3.x\n  channels:\n  - name: 2.3.x\n    minVersion: 2.3.5",
		want: "infinispan(2.3.x) 2.3.x=[2.3.5 2.3.6 2.3.7 2.3.8] | others=[]"},
	{id: "R3", isc: "packages:\n- name: infinispan\n  channels:\n  - name: stable\n    minVersion: 2.5.10",
		want: "infinispan(stable) stable=[2.5.10 2.5.11 2.5.12 2.5.13 2.5.14] | others=[]"},
	{id: "R4", isc: "packages:\n- name: infinispan\n  minVersion: 2.4.17",
		want: "infinispan(stable) 2.4.x=[2.4.17 2.4.18] stable=[2.4.17 2.4.18 2.5.0 2.5.1 2.5.2 2.5.3 2.5.4 2.5.5 2.5.6 2.5.7 2.5.8 2.5.9 2.5.10 2.5.11 2.5.12 2.5.13 2.5.14] | others=[]"},
	{id: "R5", isc: "packages:\n- name: multicluster-global-hub-operator",
		want: "multicluster-global-hub-operator(release-1.7) release-1.4=[1.4.0] release-1.5=[1.5.0] release-1.6=[1.6.0] release-1.7=[1.7.0] | others=[]"},
	{id: "R6", isc: "packages:\n- name: multicluster-global-hub-operator\n  channels:\n  - name: release-1.7\n    minVersion: 1.7.0-alpha",
		want: "multicluster-global-hub-operator(release-1.7) release-1.7=[1.7.0-alpha 1.7.0] | others=[]"},
	{id: "R7", isc: "packages:\n- name: multicluster-global-hub-operator\n  channels:\n  - name: release-1.7\n    minVersion: 1.6.0",
		want: "multicluster-global-hub-operator(release-1.7) release-1.7=[1.7.0] | others=[]"},
	{id: "R8", isc: "packages:\n- name: ecr-secret-operator",
		want: "ecr-secret-operator(alpha) alpha=[0.5.0] | others=[]"},
	{id: "R9", isc: "packages:\n- name: ecr-secret-operator\n  channels:\n  - name: alpha\n    minVersion: 0.4.0",
		want: "ecr-secret-operator(alpha) alpha=[0.4.0 0.4.1 0.5.0] | others=[]"},
	{id: "R10", isc: "packages:\n- name: ecr-secret-operator\n  channels:\n  - name: alpha\n    maxVersion: 0.4.0",
		want: "ecr-secret-operator(alpha) alpha=[0.3.2 0.4.0] | others=[]"},
	{id: "R11", isc: "packages:\n- name: ecr-secret-operator\n  channels:\n  - name: alpha\n    minVersion: 0.4.0\n    maxVersion: 0.4.0",
		want: "ecr-secret-operator(alpha) alpha=[0.4.0] | others=[]"},
	{id: "J2", isc: "packages:\n- name: jaeger-product\n  channels:\n  - name: stable\n    minVersion: 1.40.0",
		wantErr: ErrEmptyChannel, errHas: `package "jaeger-product" channel "stable" has version range ">=1.40.0" that results in an empty channel`},
	{id: "J3", isc: "packages:\n- name: jaeger-product\n  channels:\n  - name: stable\n    minVersion: 1.42.0-5",
		want: "jaeger-product(stable) stable=[1.42.0-5 1.42.0-5+0.1687199951.p 1.47.1-5 1.51.0-1] | others=[]"},
}

func runFilterCases(t *testing.T, c *Catalog, cases []filterCase) {
	for _, tt := range cases {
		t.Run(tt.id, func(t *testing.T) {
			op, err := operator(t, tt.isc)
			if tt.loadErr != "" {
				if !errors.Is(err, imageset.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.loadErr) {
					t.Fatalf("load error %v, want ErrInvalidConfig containing %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := Filter(c, op)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %v\nwant %v containing %q", err, tt.wantErr, tt.errHas)
				}
				golden(t, tt.id+".txt", []byte("error: "+err.Error()+"\n"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(s); got != tt.want {
				t.Errorf("selection\n got %s\nwant %s", got, tt.want)
			}
			golden(t, tt.id+".txt", []byte(render(s)))
		})
	}
}

func TestFilterDemo(t *testing.T) {
	runFilterCases(t, load(t, catalogImage(t, "testdata/demo")), demoCases)
}

var realCatalog = sync.OnceValue(func() image {
	var es []tarEntry
	for _, p := range []string{"ecr-secret-operator", "infinispan", "jaeger-product", "multicluster-global-hub-operator"} {
		es = append(es, dirEntries(&testing.T{}, filepath.Join("testdata/real", p), "configs/"+p+"/")...)
	}
	return image{layers: [][]tarEntry{standardBase(), append(es, tarEntry{name: "configs/.wh.stale"})}}
})

func TestFilterReal(t *testing.T) {
	runFilterCases(t, load(t, realCatalog()), realCases)
}

// G29: the field removed from oc-mirror's ISC is a decode error.
func TestFilterBundlesFieldRefused(t *testing.T) {
	_, err := operator(t, "packages:\n- name: alpha\n  bundles:\n  - name: alpha.v1.0.0")
	if err == nil || !strings.Contains(err.Error(), "bundles") {
		t.Fatalf("error %v, want the unknown field bundles refused", err)
	}
}

func TestFilterWarnings(t *testing.T) {
	c := load(t, realCatalog())
	op, _ := operator(t, "packages:\n- name: multicluster-global-hub-operator\n  channels:\n  - name: release-1.7\n    minVersion: 1.6.0")
	s, err := Filter(c, op)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "leaves out prerelease bundles multicluster-global-hub-operator.v1.7.0-alpha") {
		t.Errorf("warnings %q", s.Warnings)
	}
	// Exact version with two bundles differing by build metadata only:
	// deterministic (first by name) and said.
	op, _ = operator(t, "packages:\n- name: jaeger-product\n  channels:\n  - name: stable\n    minVersion: 1.42.0-5\n    maxVersion: 1.42.0-5")
	for range 3 {
		s, err = Filter(c, op)
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(s); got != "jaeger-product(stable) stable=[1.42.0-5] | others=[]" {
			t.Fatalf("got %s", got)
		}
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "2 bundles have version 1.42.0-5") {
		t.Errorf("warnings %q", s.Warnings)
	}
}

func TestImagesDeduplicated(t *testing.T) {
	c := load(t, catalogImage(t, "testdata/demo"))
	op, _ := operator(t, "packages:\n- name: alpha\n  minVersion: 1.1.0")
	s, err := Filter(c, op)
	if err != nil {
		t.Fatal(err)
	}
	imgs := s.Images()
	// alpha 1.1.0, 1.1.1, 1.2.0, 2.0.0, 2.1.0: a bundle and an operator
	// image each, the bundle image also listed in relatedImages.
	if len(imgs) != 10 {
		t.Fatalf("%d images, want 10: %q", len(imgs), imgs)
	}
	h := sha256.Sum256([]byte("alpha.v1.1.1-operator"))
	want := fmt.Sprintf("quay.example/demo/alpha-operator@sha256:%x", h)
	found := false
	for _, i := range imgs {
		found = found || i == want
	}
	if !found {
		t.Errorf("%s missing from %q", want, imgs)
	}
}

func TestFilterImageChecks(t *testing.T) {
	pkg := func(related string) image {
		body := `{"schema":"olm.package","name":"p","defaultChannel":"c"}` +
			`{"schema":"olm.channel","package":"p","name":"c","entries":[{"name":"p.v1"}]}` +
			`{"schema":"olm.bundle","package":"p","name":"p.v1","image":"quay.example/p/bundle@sha256:` + strings.Repeat("a", 64) + `",` +
			`"properties":[{"type":"olm.package","value":{"packageName":"p","version":"1.0.0"}}],"relatedImages":[{"name":"x","image":"` + related + `"},{"name":"empty","image":""}]}`
		return image{layers: [][]tarEntry{{{name: "configs/p/catalog.json", body: []byte(body)}}}}
	}
	op, _ := operator(t, "")
	s, err := Filter(load(t, pkg("Not A Reference!")), op)
	if err != nil {
		t.Fatal(err)
	}
	if imgs := s.Images(); len(imgs) != 1 || !strings.HasPrefix(imgs[0], "quay.example/p/bundle@") {
		t.Errorf("images %q: want the bundle only (the invalid and the empty one left out)", imgs)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], `image "Not A Reference!" is not a valid reference`) {
		t.Errorf("warnings %q", s.Warnings)
	}
	_, err = Filter(load(t, pkg("oci:///tmp/layout")), op)
	if !errors.Is(err, ErrInvalidFBC) || !strings.Contains(err.Error(), `bundle "p.v1"`) {
		t.Errorf("oci: related image: %v", err)
	}
}
