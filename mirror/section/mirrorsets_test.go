package section

import (
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/imageset"
)

func TestContentName(t *testing.T) {
	a := ContentName([]string{"q.io/a:v1 -> r:5000/m/a:v1", "q.io/b@sha256:00 -> r:5000/m/b:sha256-00"})
	if b := ContentName([]string{"q.io/b@sha256:00 -> r:5000/m/b:sha256-00", "q.io/a:v1 -> r:5000/m/a:v1", "q.io/a:v1 -> r:5000/m/a:v1"}); a != b {
		t.Errorf("order or repeats change the name: %s, %s", a, b)
	}
	for _, other := range [][]string{
		{"q.io/a:v1 -> r:5000/m/a:v1"},
		{"q.io/a:v1 -> r:5000/n/a:v1", "q.io/b@sha256:00 -> r:5000/n/b:sha256-00"},
		{"q.io/a:v1 -> r:5000/m/a:v1q.io/b@sha256:00 -> r:5000/m/b:sha256-00"},
	} {
		if b := ContentName(other); a == b {
			t.Errorf("%q and other content share the name %s", other, a)
		}
	}
	if err := clusterres.ValidateName(a + "-release-signatures"); err != nil || !strings.HasPrefix(a, "enclave-") || len(a) != len("enclave-")+12 {
		t.Errorf("name %q: %v", a, err)
	}
}

func TestMirrorSets(t *testing.T) {
	ref := func(s string) imageset.Reference {
		r, err := imageset.ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rs, err := MirrorSets("enclave-0123456789ab", []Placed{
		{Source: ref("q.io/org/app:v1"), Dest: "r:5000/m/org/app", OK: true},
		{Source: ref("q.io/org/tool@sha256:" + strings.Repeat("a", 64)), Dest: "r:5000/m/org/tool", OK: true},
		{Source: ref("q.io/org/failed:v1"), Dest: "r:5000/m/org/failed", OK: false},
		{Source: imageset.Reference{Registry: imageset.LayoutRegistry, Repository: "team/x", Tag: "v1"}, Dest: "r:5000/m/team/x", OK: true},
		// Placed at its own name: nothing to redirect (clusterres refuses
		// a mirror of itself, which would fail the whole set).
		{Source: ref("r:5000/same/place:v1"), Dest: "r:5000/same/place", OK: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Kind != clusterres.KindImageDigestMirrorSet || rs[1].Kind != clusterres.KindImageTagMirrorSet {
		t.Fatalf("resources %+v", rs)
	}
	idms, _ := rs[0].Encode()
	itms, _ := rs[1].Encode()
	for _, c := range []struct {
		doc, s string
		want   bool
	}{
		{string(idms), "q.io/org/app", true}, {string(idms), "q.io/org/tool", true},
		{string(idms), "failed", false}, {string(idms), "team/x", false}, {string(idms), "same/place", false},
		{string(itms), "q.io/org/app", true}, {string(itms), "q.io/org/tool", false},
	} {
		if strings.Contains(c.doc, c.s) != c.want {
			t.Errorf("%s in\n%s: want %v", c.s, c.doc, c.want)
		}
	}
	if rs, err := MirrorSets("enclave-0123456789ab", []Placed{{Source: ref("q.io/org/failed:v1"), Dest: "r:5000/m/org/failed"}}); err != nil || len(rs) != 0 {
		t.Errorf("nothing arrived: %v, %v", rs, err)
	}
}
