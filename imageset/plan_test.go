package imageset

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func mustLoad(t *testing.T, yaml string) *Config {
	t.Helper()
	c, err := Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"+yaml), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlanGolden(t *testing.T) {
	c, err := LoadFile("testdata/valid/additional-images.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Plan(PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range p.Mappings {
		fmt.Fprintf(&b, "%s line %d: %s -> %s\n", m.Kind, m.Line, m.Source, m.Destination)
	}
	for _, x := range p.Blocked {
		fmt.Fprintf(&b, "blocked %s (%s) by %q line %d\n", x.Source, x.Kind, x.Pattern, x.Line)
	}
	golden(t, "plan/additional-images.golden", []byte(b.String()))
}

func TestPlanDestinations(t *testing.T) {
	tests := []struct {
		name, src, targetRepo, targetTag string
		want                             string
	}{
		{name: "tag", src: "quay.io/org/app:1.2", want: "org/app:1.2"},
		{name: "target repo", src: "quay.io/org/app:1.2", targetRepo: "tools/app", want: "tools/app:1.2"},
		{name: "target tag", src: "quay.io/org/app:1.2", targetTag: "stable", want: "org/app:stable"},
		{name: "digest only", src: "quay.io/org/app@" + string(dig256), want: "org/app:digest-sha256-5d1b5d8d9d0d5b1f7b2c0a7d8d3c3e7c@" + string(dig256)},
		{name: "digest and target tag", src: "quay.io/org/app@" + string(dig256), targetTag: "v1", want: "org/app:v1@" + string(dig256)},
		{name: "tag and digest", src: "quay.io/org/app:1.2@" + string(dig256), want: "org/app:1.2@" + string(dig256)},
		{name: "docker hub", src: "nginx:1.25", want: "library/nginx:1.25"},
		{name: "port", src: "localhost:5000/a/b:c", want: "a/b:c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := ParseReference(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			c := &Config{Mirror: Mirror{AdditionalImages: []AdditionalImage{{Name: src, TargetRepo: tt.targetRepo, TargetTag: tt.targetTag}}}}
			p, err := c.Plan(PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Mappings) != 1 {
				t.Fatalf("%d mappings", len(p.Mappings))
			}
			m := p.Mappings[0]
			if m.Destination.String() != tt.want || m.Destination.Registry != "" || m.Source != src || m.Kind != KindAdditionalImage {
				t.Fatalf("mapping = %+v, want destination %q", m, tt.want)
			}
		})
	}
}

func TestDigestTag(t *testing.T) {
	tests := []struct {
		d    digest.Digest
		want string
	}{
		{dig256, "digest-sha256-5d1b5d8d9d0d5b1f7b2c0a7d8d3c3e7c"},
		{digest.Digest("sha512:" + strings.Repeat("0f", 64)), "digest-sha512-0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"},
	}
	for _, tt := range tests {
		got := DigestTag(tt.d)
		if got != tt.want {
			t.Errorf("DigestTag(%s) = %q, want %q", tt.d, got, tt.want)
		}
		if err := ValidateTag(got); err != nil {
			t.Errorf("DigestTag(%s) is not a valid tag: %v", tt.d, err)
		}
		// Never a referrers-schema tag (<alg>-<hex>) or a cosign tag.
		if strings.HasPrefix(got, string(tt.d.Algorithm())+"-") {
			t.Errorf("DigestTag(%s) = %q collides with the referrers tag schema", tt.d, got)
		}
	}
}

func TestPlanSections(t *testing.T) {
	full, err := LoadFile("testdata/valid/v2alpha1-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		allow     []Section
		wantErr   []string
		wantSkips []Section
	}{
		{name: "none allowed", wantErr: []string{
			"v2alpha1-full.yaml:6: mirror.platform is not implemented yet in this version; remove the section or use a newer enclave",
			"v2alpha1-full.yaml:22: mirror.operators is not implemented yet",
			"v2alpha1-full.yaml:45: mirror.helm is not implemented yet",
		}},
		{name: "some allowed", allow: []Section{SectionPlatform, SectionHelm}, wantErr: []string{"mirror.operators is not implemented"}},
		{name: "all allowed", allow: []Section{SectionOperators, SectionHelm, SectionPlatform}, wantSkips: []Section{SectionPlatform, SectionOperators, SectionHelm}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := full.Plan(PlanOptions{Allow: tt.allow})
			_, _, serr := full.Match(PlanOptions{Allow: tt.allow}, nil)
			if len(tt.wantErr) > 0 {
				if !errors.Is(err, ErrNotImplemented) || errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrNotImplemented only", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%v", w, err)
					}
				}
				if !errors.Is(serr, ErrNotImplemented) {
					t.Errorf("Match err = %v", serr)
				}
				return
			}
			if err != nil || serr != nil {
				t.Fatal(err, serr)
			}
			if fmt.Sprint(p.Skipped) != fmt.Sprint(tt.wantSkips) {
				t.Errorf("Skipped = %v, want %v", p.Skipped, tt.wantSkips)
			}
			if len(p.Mappings) != 3 {
				t.Errorf("%d mappings, want 3", len(p.Mappings))
			}
		})
	}
	// An empty helm section (v1alpha2-full.yaml has helm: {}) is not "present".
	c, err := LoadFile("testdata/valid/v1alpha2-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plan(PlanOptions{Allow: []Section{SectionPlatform, SectionOperators}}); err != nil {
		t.Fatalf("empty helm section refused: %v", err)
	}
}

func TestPlanConflicts(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    int
		wantErr string
	}{
		{name: "same destination tag", yaml: `
mirror:
  additionalImages:
    - name: quay.io/a/app:1
      targetRepo: app
    - name: quay.io/b/app:1
      targetRepo: app
`, wantErr: "isc.yaml:8: quay.io/b/app:1 and quay.io/a/app:1 (line 6) would both be written to app:1"},
		{name: "tag vs tag and digest", yaml: `
mirror:
  additionalImages:
    - name: quay.io/a/app:1
    - name: quay.io/a/app:1@` + string(dig256) + `
`, wantErr: "would both be written to a/app:1"},
		{name: "same mapping twice", yaml: `
mirror:
  additionalImages:
    - name: quay.io/a/app:1
    - name: quay.io/a/app:1
      targetRepo: a/app
`, want: 1},
		{name: "blocked one of two", yaml: `
mirror:
  additionalImages:
    - name: quay.io/a/app:1
      targetRepo: app
    - name: quay.io/b/app:1
      targetRepo: app
  blockedImages:
    - name: ^quay\.io/b/
`, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mustLoad(t, tt.yaml).Plan(PlanOptions{})
			if tt.wantErr != "" {
				if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrConflict containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Mappings) != tt.want {
				t.Fatalf("%d mappings, want %d", len(p.Mappings), tt.want)
			}
		})
	}
}

func TestPlanUnpinnedInCode(t *testing.T) {
	c := &Config{File: "code", Mirror: Mirror{AdditionalImages: []AdditionalImage{{Name: Reference{Registry: "quay.io", Repository: "a"}}}}}
	if _, err := c.Plan(PlanOptions{}); !errors.Is(err, ErrInvalidReference) {
		t.Fatalf("err = %v, want ErrInvalidReference", err)
	}
}

func TestMatch(t *testing.T) {
	c := mustLoad(t, `
mirror:
  additionalImages:
    - name: quay.io/org/app:1.2
    - name: quay.io/org/db@`+string(dig256)+`
    - name: quay.io/org/web:2@`+string(dig256)+`
    - name: quay.io/org/gone:1
    - name: quay.io/org/debug:1
  blockedImages:
    - name: "/debug:"
`)
	other := digest.Digest("sha256:" + strings.Repeat("1", 64))
	tests := []struct {
		ref  string
		root digest.Digest
		want string // the entry that picks it, "" for none
	}{
		{"quay.io/org/app:1.3", other, ""},
		{"quay.io/org/app:1.2", other, "quay.io/org/app:1.2"}, // selected by tag: any digest
		{"quay.io/org/db:latest", other, ""},                  // another digest
		{"quay.io/org/db:x", dig256, ""},                      // digest decides, but an exact reference follows
		{"quay.io/org/db@" + string(dig256), dig256, "quay.io/org/db@" + string(dig256)},
		{"quay.io/org/web:3", dig256, "quay.io/org/web:2@" + string(dig256)}, // digest decides: the first
		{"quay.io/org/web:4", dig256, ""},
		{"docker.io/org/app:1.2", other, ""},     // other registry
		{"quay.io/org/debug:1", other, ""},       // blocked
		{"quay.io/org/app-extra:1.2", other, ""}, // exact repository
	}
	var recorded []Recorded
	for _, tt := range tests {
		ref, err := ParseReference(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, Recorded{Ref: ref, Digest: tt.root})
	}
	picks, missing, err := c.Match(PlanOptions{}, recorded)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, p := range picks {
		if _, dup := got[p.Index]; dup {
			t.Errorf("%s picked twice", tests[p.Index].ref)
		}
		got[p.Index] = p.Mapping.Source.String()
		if p.Mapping.Source.Digest != tests[p.Index].root {
			t.Errorf("%s: source digest %s, want the root's %s", tests[p.Index].ref, p.Mapping.Source.Digest, tests[p.Index].root)
		}
	}
	for i, tt := range tests {
		want := tt.want
		if want != "" && !strings.Contains(want, "@") {
			want += "@" + string(tt.root)
		}
		if got[i] != want {
			t.Errorf("%s picked by %q, want %q", tt.ref, got[i], want)
		}
	}
	if len(missing) != 1 || missing[0].Source.String() != "quay.io/org/gone:1" {
		t.Errorf("missing = %+v, want only quay.io/org/gone:1 (debug is blocked)", missing)
	}
}

// TestMatchOneReferenceOneMapping pins issue 22's first bug: two
// digest-only entries of one repository, and one image named by tag and by
// digest with different targetRepos, each get their own reference and
// destination.
func TestMatchOneReferenceOneMapping(t *testing.T) {
	a := digest.Digest("sha256:" + strings.Repeat("a", 64))
	b := digest.Digest("sha256:" + strings.Repeat("b", 64))
	ref := func(s string) Reference {
		r, err := ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name     string
		config   string
		recorded []Recorded
		want     []string // "recorded index -> destination"
	}{
		{
			name: "two digest-only entries",
			config: `
    - name: quay.io/org/app@` + string(a) + `
    - name: quay.io/org/app@` + string(b),
			recorded: []Recorded{{ref("quay.io/org/app@" + string(a)), a}, {ref("quay.io/org/app@" + string(b)), b}},
			want:     []string{"0 -> org/app:" + DigestTag(a) + "@" + string(a), "1 -> org/app:" + DigestTag(b) + "@" + string(b)},
		},
		{
			name: "tag and digest of one image, two targetRepos",
			config: `
    - name: quay.io/org/app:a
      targetRepo: team-x/app
    - name: quay.io/org/app@` + string(a) + `
      targetRepo: team-y/app`,
			recorded: []Recorded{{ref("quay.io/org/app:a"), a}, {ref("quay.io/org/app@" + string(a)), a}},
			want:     []string{"0 -> team-x/app:a", "1 -> team-y/app:" + DigestTag(a) + "@" + string(a)},
		},
		{
			name: "the archive holds the tag only: both entries use it",
			config: `
    - name: quay.io/org/app:a
      targetRepo: team-x/app
    - name: quay.io/org/app@` + string(a) + `
      targetRepo: team-y/app`,
			recorded: []Recorded{{ref("quay.io/org/app:a"), a}},
			want:     []string{"0 -> team-x/app:a", "0 -> team-y/app:" + DigestTag(a) + "@" + string(a)},
		},
		{
			name: "tag and digest in one entry",
			config: `
    - name: quay.io/org/app:a@` + string(a),
			recorded: []Recorded{{ref("quay.io/org/app:b"), a}, {ref("quay.io/org/app:a@" + string(a)), a}},
			want:     []string{"1 -> org/app:a@" + string(a)},
		},
		{
			name: "the same image twice under different targetRepos",
			config: `
    - name: quay.io/org/app:a
      targetRepo: one/app
    - name: quay.io/org/app:a
      targetRepo: two/app`,
			recorded: []Recorded{{ref("quay.io/org/app:a"), a}},
			want:     []string{"0 -> one/app:a", "0 -> two/app:a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, "\nmirror:\n  additionalImages:"+tt.config+"\n")
			picks, missing, err := c.Match(PlanOptions{}, tt.recorded)
			if err != nil {
				t.Fatal(err)
			}
			if len(missing) > 0 {
				t.Fatalf("missing %v", missing)
			}
			var got []string
			for _, p := range picks {
				got = append(got, fmt.Sprintf("%d -> %s", p.Index, p.Mapping.Destination))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("picks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
