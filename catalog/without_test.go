package catalog

import (
	"strings"
	"testing"
)

type withoutCase struct {
	isc, want string
	drop      []string
	warn      string
}

var withoutCases = []withoutCase{
	// The head of stable and a middle entry of fast: stable falls back
	// to a1.2.0 (its skip a1.1.1 with it); fast keeps a2.1.0 alone.
	{"packages:\n- name: alpha\n  minVersion: 1.1.0", "alpha(stable) candidate=[2.1.0] fast=[2.1.0] stable=[1.1.0 1.1.1 1.2.0] | others=[example.global]",
		[]string{"alpha.v2.0.0"}, `channel "stable": 3 of 4 entries kept`},
	// The only bundle of the default channel: the package goes.
	{"packages:\n- name: alpha\n  defaultChannel: fast\n  channels:\n  - name: fast\n- name: gamma", "gamma(stable) stable=[0.1.0] | others=[example.global]",
		[]string{"alpha.v2.1.0"}, `its default channel "fast" is empty; the package is dropped`},
	// The tail of v1: v1 keeps its head; the deprecation of the
	// dropped bundle goes.
	{"full: true\npackages:\n- name: beta", "beta(v2) v1=[1.1.0] v2=[1.1.0 2.0.0 2.1.0] deprecated=[package: channel:v1] | others=[example.custom example.global]",
		[]string{"beta.v1.0.0"}, `channel "v1": 1 of 2 entries kept`},
}

func dropNames(names ...string) func(*Bundle) bool {
	return func(b *Bundle) bool {
		for _, n := range names {
			if b.Name == n {
				return true
			}
		}
		return false
	}
}

func TestWithout(t *testing.T) {
	c := load(t, catalogImage(t, "testdata/demo"))
	for _, tt := range withoutCases {
		op, _ := operator(t, tt.isc)
		s, err := Filter(c, op)
		if err != nil {
			t.Fatal(err)
		}
		before := summary(s)
		got, err := s.Without(dropNames(tt.drop...))
		if err != nil {
			t.Fatal(err)
		}
		if summary(s) != before {
			t.Errorf("Without changed the selection it was called on")
		}
		if g := summary(got); g != tt.want {
			t.Errorf("without %v:\n got %s\nwant %s", tt.drop, g, tt.want)
		}
		if !strings.Contains(strings.Join(got.Warnings, "\n"), tt.warn) {
			t.Errorf("warnings %q do not say %q", got.Warnings, tt.warn)
		}
		images := strings.Join(got.Images(), " ")
		for _, d := range tt.drop {
			for _, pkg := range c.Packages {
				if b := pkg.Bundle(d); b != nil && strings.Contains(images, b.Image) {
					t.Errorf("image %s of dropped bundle %s still listed", b.Image, d)
				}
			}
		}
	}
}
