package imageset

import (
	"errors"
	"strings"
	"testing"
)

func TestLayoutSources(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		wantErr     string
		wantDir     string
		wantRef     string
	}{
		{"tag", "- name: oci:///srv/layouts/app:v1\n    targetRepo: team/app", "", "/srv/layouts/app", LayoutRegistry + "/team/app:v1"},
		{"relative dir", "- name: oci://layouts/app:v1\n    targetRepo: team/app", "", "layouts/app", LayoutRegistry + "/team/app:v1"},
		{"digest", "- name: oci:///srv/app@sha256:" + strings.Repeat("a", 64) + "\n    targetRepo: team/app\n    targetTag: v2", "", "/srv/app", LayoutRegistry + "/team/app@sha256:" + strings.Repeat("a", 64)},
		{"no targetRepo", "- name: oci:///srv/app:v1", "give targetRepo", "", ""},
		{"no tag", "- name: oci:///srv/app\n    targetRepo: team/app", "names no image in the layout", "", ""},
		{"dot dot", "- name: oci:///srv/../etc/app:v1\n    targetRepo: team/app", "no .. in the path", "", ""},
		{"bad digest", "- name: oci:///srv/app@sha256:abc\n    targetRepo: team/app", "oci:///srv/app@sha256:abc", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  " + tc.entry + "\n"
			c, err := Load(strings.NewReader(doc), "isc.yaml")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := c.Mirror.AdditionalImages[0]
			if img.Layout != tc.wantDir || img.Name.String() != tc.wantRef {
				t.Fatalf("layout %q ref %q, want %q %q", img.Layout, img.Name, tc.wantDir, tc.wantRef)
			}
			p, err := c.Plan(PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m := p.Mappings[0]; m.Layout != tc.wantDir || m.Destination.Repository != "team/app" {
				t.Fatalf("mapping = %+v", m)
			}
		})
	}
}
