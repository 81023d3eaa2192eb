package imageset

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestOCMirrorCompat is the table of issue 23: one row per rule that makes
// a configuration oc-mirror v2 accepts load here with the same meaning (or
// that refuses what oc-mirror refuses). Each row is a snippet after the
// kind and apiVersion header; it pins the plan (source -> destination of
// every mapping), the loaded values, the warnings, or the error's line,
// field path and message.
func TestOCMirrorCompat(t *testing.T) {
	const v2 = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"
	const v1 = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v1alpha2\n"
	tests := []struct {
		name string
		yaml string
		// plan lists "source -> destination" for every mapping (checked
		// when not nil).
		plan []string
		// check inspects the loaded configuration (optional).
		check func(*Config) string
		// warns are substrings, one per expected warning, in order; a row
		// that loads with no warns expects none.
		warns []string
		// wantErr, line, path and msg describe the first error.
		wantErr error
		line    int
		path    string
		msg     string
	}{
		{
			name: "docker:// on additionalImages",
			yaml: v2 + "mirror:\n  additionalImages:\n    - name: docker://registry.redhat.io/ubi8/ubi:latest\n",
			plan: []string{"registry.redhat.io/ubi8/ubi:latest -> ubi8/ubi:latest"},
			check: func(c *Config) string {
				if raw := c.Mirror.AdditionalImages[0].Raw; raw != "docker://registry.redhat.io/ubi8/ubi:latest" {
					return "Raw = " + raw
				}
				return ""
			},
		},
		{
			name: "docker:// on mirror.platform.release",
			yaml: v2 + "mirror:\n  platform:\n    release: docker://quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64\n",
			check: func(c *Config) string {
				return want(c.Mirror.Platform.Release, "quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64")
			},
		},
		{
			name: "docker:// on an operator catalog",
			yaml: v2 + "mirror:\n  operators:\n    - catalog: docker://registry.redhat.io/redhat/redhat-operator-index:v4.15\n",
			check: func(c *Config) string {
				return want(c.Mirror.Operators[0].Catalog, "registry.redhat.io/redhat/redhat-operator-index:v4.15")
			},
		},
		{
			name:    "other transports stay refused on catalogs",
			yaml:    v2 + "mirror:\n  operators:\n    - catalog: http://registry.redhat.io/redhat/redhat-operator-index:v4.15\n",
			wantErr: ErrInvalidReference, line: 5, path: "mirror.operators[0].catalog", msg: "want an image reference or an oci:// path",
		},
		{
			name: "keys in other case load with a warning naming the canonical spelling",
			yaml: v2 + "mirror:\n  additionalimages:\n    - NAME: quay.io/org/app:1.0\n  blockedimages:\n    - name: debug\n",
			plan: []string{"quay.io/org/app:1.0 -> org/app:1.0"},
			warns: []string{
				`case.yaml:4: field "additionalimages" in mirror is spelled "additionalImages"`,
				`case.yaml:5: field "NAME" in mirror.additionalImages[0] is spelled "name"`,
				`case.yaml:6: field "blockedimages" in mirror is spelled "blockedImages"`,
			},
			check: func(c *Config) string { return want(fmt.Sprint(len(c.Mirror.BlockedImages)), "1") },
		},
		{
			name:    "a key given twice in different case is a duplicate",
			yaml:    v2 + "mirror:\n  additionalImages:\n    - name: quay.io/org/app:1.0\n      Name: quay.io/org/app:2.0\n",
			wantErr: ErrInvalidConfig, line: 6, path: "mirror.additionalImages[0].Name", msg: `duplicate field "name" (first at line 5)`,
		},
		{
			name:    "truly unknown fields stay errors, with a hint",
			yaml:    v2 + "mirror:\n  additionalImage:\n    - name: quay.io/org/app:1.0\n",
			wantErr: ErrUnknownField, line: 4, path: "mirror.additionalImage", msg: `unknown field "additionalImage" in mirror (did you mean "additionalImages"?)`,
		},
		{
			name: "operator versions are read as oc-mirror reads them",
			yaml: v2 + "mirror:\n  operators:\n    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15\n      packages:\n        - name: a\n          minVersion: \"4.15\"\n          maxVersion: v4.16.0\n        - name: b\n          channels:\n            - name: stable\n              minVersion: \"1\"\n",
			check: func(c *Config) string {
				ps := c.Mirror.Operators[0].Packages
				return want(ps[0].MinVersion.String()+" "+ps[0].MaxVersion.String()+" "+ps[1].Channels[0].MinVersion.String(), "4.15.0 4.16.0 1.0.0")
			},
		},
		{
			name:    "operator versions that are not versions are refused",
			yaml:    v2 + "mirror:\n  operators:\n    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15\n      packages:\n        - name: a\n          minVersion: 4.15.x\n",
			wantErr: ErrInvalidVersion, line: 8, path: "mirror.operators[0].packages[0].minVersion", msg: `"4.15.x" is not a version`,
		},
		{
			name:    "operator versions on a package and its channels are refused, as oc-mirror does",
			yaml:    v2 + "mirror:\n  operators:\n    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15\n      packages:\n        - name: a\n          minVersion: 1.0.0\n          channels:\n            - name: stable\n              maxVersion: 2.0.0\n",
			wantErr: ErrInvalidConfig, line: 7, path: "mirror.operators[0].packages[0]", msg: "on both the package and channel",
		},
		{
			name:    "release channel versions stay full semantic versions, as oc-mirror requires",
			yaml:    v2 + "mirror:\n  platform:\n    channels:\n      - name: stable-4.15\n        minVersion: v4.15.0\n",
			wantErr: ErrInvalidVersion, line: 7, path: "mirror.platform.channels[0].minVersion", msg: "is not a semantic version",
		},
		{
			name:  "mirror.platform with architectures and no channels selects no release; the other sections still mirror",
			yaml:  v2 + "mirror:\n  platform:\n    architectures: [amd64]\n  additionalImages:\n    - name: quay.io/org/app:1.0\n",
			plan:  []string{"quay.io/org/app:1.0 -> org/app:1.0"},
			warns: []string{"noarch.yaml:4: mirror.platform selects no release"},
			check: func(c *Config) string {
				return want(fmt.Sprint(len(c.Mirror.Platform.Channels), c.Mirror.Platform.Release == ""), "0 true")
			},
		},
		{
			name:  "platforms on mirror.platform, additionalImages and operators are stored",
			yaml:  v2 + "mirror:\n  platform:\n    release: quay.io/openshift-release-dev/ocp-release:4.15.3-multi\n    platforms:\n      - os: linux\n        architecture: amd64\n  additionalImages:\n    - name: quay.io/org/app:1.0\n      platforms:\n        - {os: linux, architecture: arm64}\n        - {os: linux, architecture: amd64}\n  operators:\n    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15\n      platforms:\n        - {os: linux, architecture: s390x}\n",
			plan:  []string{"quay.io/org/app:1.0 -> org/app:1.0"},
			warns: []string{"isc.yaml:6: mirror.platform.platforms: releases are selected from the multi-architecture graph and their images copied sparse"},
			check: func(c *Config) string {
				got := fmt.Sprint(c.Mirror.Platform.Platforms[0], c.Mirror.AdditionalImages[0].Platforms[0], c.Mirror.AdditionalImages[0].Platforms[1], c.Mirror.Operators[0].Platforms[0])
				return want(got, "linux/amd64 linux/arm64 linux/amd64 linux/s390x")
			},
		},
		{
			name:    "platforms are mappings of os and architecture",
			yaml:    v2 + "mirror:\n  additionalImages:\n    - name: quay.io/org/app:1.0\n      platforms: [linux/amd64]\n",
			wantErr: ErrInvalidConfig, line: 6, path: "mirror.additionalImages[0].platforms[0]", msg: "write {os: linux, architecture: amd64}",
		},
		{
			name:    "a platform needs its architecture",
			yaml:    v2 + "mirror:\n  additionalImages:\n    - name: quay.io/org/app:1.0\n      platforms:\n        - os: linux\n",
			wantErr: ErrInvalidConfig, line: 7, path: "mirror.additionalImages[0].platforms[0]", msg: "missing architecture",
		},
		{
			name:    "platforms and architectures together are refused, as oc-mirror does",
			yaml:    v2 + "mirror:\n  platform:\n    architectures: [amd64]\n    platforms: [{os: linux, architecture: amd64}]\n    channels: [{name: stable-4.15}]\n",
			wantErr: ErrInvalidConfig, line: 5, path: "mirror.platform", msg: "platforms and architectures cannot be used together",
		},
		{
			name:  "kubeVirtContainer is read (mirror/platform carries the image; tools/e2e TestPlatformKubeVirtContainer)",
			yaml:  v2 + "mirror:\n  platform:\n    channels:\n      - name: stable-4.16\n    kubeVirtContainer: true\n",
			check: func(c *Config) string { return want(fmt.Sprint(c.Mirror.Platform.KubeVirtContainer), "true") },
		},
		{
			name:  "samples is accepted and ignored, as oc-mirror v2 does",
			yaml:  v2 + "mirror:\n  samples:\n    - name: ruby\n  additionalImages:\n    - name: quay.io/org/app:1.0\n",
			plan:  []string{"quay.io/org/app:1.0 -> org/app:1.0"},
			warns: []string{"samples.yaml:4: mirror.samples is ignored: oc-mirror v2 accepts it and mirrors nothing for it"},
		},
		{
			name:    "samples entries are still checked",
			yaml:    v2 + "mirror:\n  samples:\n    - nam: ruby\n",
			wantErr: ErrUnknownField, line: 5, path: "mirror.samples[0].nam", msg: `did you mean "name"?`,
		},
		{
			name:  "v1alpha2 with storageConfig: the documentation's example loads, storageConfig ignored with one warning",
			yaml:  v1 + "storageConfig:\n  registry:\n    imageURL: registry.internal:5000/metadata:latest\n    skipTLS: false\nmirror:\n  platform:\n    architectures:\n      - \"amd64\"\n    channels:\n      - name: stable-4.15\n        minVersion: 4.15.0\n        maxVersion: 4.15.3\n",
			warns: []string{"storage.yaml:3: storageConfig is ignored"},
			check: func(c *Config) string {
				ch := c.Mirror.Platform.Channels[0]
				return want(ch.Name+" "+ch.MinVersion.String()+" "+ch.MaxVersion.String(), "stable-4.15 4.15.0 4.15.3")
			},
		},
		{
			name:    "v2alpha1 with storageConfig stays an unknown field, as in oc-mirror v2",
			yaml:    v2 + "storageConfig:\n  local:\n    path: /tmp\nmirror:\n  additionalImages:\n    - name: quay.io/org/app:1.0\n",
			wantErr: ErrUnknownField, line: 3, path: "storageConfig", msg: "not supported by v2alpha1",
		},
		{
			name: "YAML 1.1 booleans (yes, on, no) mean what they mean to oc-mirror's decoder",
			yaml: v2 + "mirror:\n  platform:\n    graph: yes\n    channels:\n      - name: stable-4.15\n        shortestPath: on\n        full: no\n",
			check: func(c *Config) string {
				ch := c.Mirror.Platform.Channels[0]
				return want(fmt.Sprint(c.Mirror.Platform.Graph, ch.ShortestPath, ch.Full), "true true false")
			},
		},
		{
			name:    "a quoted \"yes\" is a string, refused where a boolean goes (as oc-mirror)",
			yaml:    v2 + "mirror:\n  platform:\n    graph: \"yes\"\n    channels: [{name: stable-4.15}]\n",
			wantErr: ErrInvalidConfig, line: 5, path: "mirror.platform.graph", msg: "want true or false",
		},
		{
			name:    "oc-mirror v1 operator fields oc-mirror v2 refuses get a hint",
			yaml:    v1 + "mirror:\n  operators:\n    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.14\n      targetName: my-index\n",
			wantErr: ErrUnknownField, line: 6, path: "mirror.operators[0].targetName", msg: "oc-mirror v2 reads targetCatalog",
		},
		{
			name:    "a file without mirror is refused, as oc-mirror does",
			yaml:    v2 + "archiveSize: 4\n",
			wantErr: ErrInvalidConfig, line: 1, path: "", msg: "missing mirror",
		},
		{
			name:    "a number where a string goes is refused, as oc-mirror does",
			yaml:    v2 + "mirror:\n  additionalImages:\n    - name: quay.io/org/app:1.0\n      targetTag: 1.10\n",
			wantErr: ErrInvalidConfig, line: 6, path: "mirror.additionalImages[0].targetTag", msg: `want a string, got a number (1.10); quote it ("1.10")`,
		},
		{
			name:    "an unquoted operator version is a number too",
			yaml:    v2 + "mirror:\n  operators:\n    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15\n      packages:\n        - name: a\n          minVersion: 4.15\n",
			wantErr: ErrInvalidConfig, line: 8, path: "mirror.operators[0].packages[0].minVersion", msg: "want a string, got a number (4.15)",
		},
	}
	files := map[string]string{
		"keys in other case load with a warning naming the canonical spelling":                                   "case.yaml",
		"mirror.platform with architectures and no channels selects no release; the other sections still mirror": "noarch.yaml",
		"kubeVirtContainer is accepted with a warning that it is not carried yet":                                "kubevirt.yaml",
		"samples is accepted and ignored, as oc-mirror v2 does":                                                  "samples.yaml",
		"v1alpha2 with storageConfig: the documentation's example loads, storageConfig ignored with one warning": "storage.yaml",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := files[tt.name]
			if file == "" {
				file = "isc.yaml"
			}
			c, err := Load(strings.NewReader(tt.yaml), file)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("loaded; want %v", tt.wantErr)
				}
				var ce *ConfigError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a *ConfigError wrapping %v", err, tt.wantErr)
				}
				if ce.File != file || ce.Line != tt.line || ce.Path != tt.path || !strings.Contains(ce.Msg, tt.msg) {
					t.Fatalf("error at %s:%d %q: %q; want %s:%d %q containing %q", ce.File, ce.Line, ce.Path, ce.Msg, file, tt.line, tt.path, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != len(tt.warns) {
				t.Fatalf("warnings = %q, want %d", c.Warnings, len(tt.warns))
			}
			for i, w := range tt.warns {
				if !strings.Contains(c.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, c.Warnings[i], w)
				}
			}
			if tt.check != nil {
				if msg := tt.check(c); msg != "" {
					t.Error(msg)
				}
			}
			if tt.plan != nil {
				p, err := c.Plan(PlanOptions{Allow: []Section{SectionPlatform, SectionOperators, SectionHelm}})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range p.Mappings {
					got = append(got, m.Source.String()+" -> "+m.Destination.String())
				}
				if strings.Join(got, "\n") != strings.Join(tt.plan, "\n") {
					t.Errorf("plan = %q, want %q", got, tt.plan)
				}
			}
		})
	}
}

// want returns "" when got equals w, else a message.
func want(got, w string) string {
	if got == w {
		return ""
	}
	return fmt.Sprintf("got %q, want %q", got, w)
}

func TestParseOperatorVersion(t *testing.T) {
	for in, out := range map[string]string{
		"4.15": "4.15.0", "v4.15.0": "4.15.0", "4": "4.0.0", "1.2.3-rc.1+b5": "1.2.3-rc.1+b5", "v0.11": "0.11.0",
	} {
		v, err := ParseOperatorVersion(in)
		if err != nil || v.String() != out {
			t.Errorf("ParseOperatorVersion(%q) = %v, %v; want %s", in, v, err, out)
		}
	}
	for _, in := range []string{"", "v", "4.15.x", "4..1", "4.15.0.1", "latest", " 4.15"} {
		if _, err := ParseOperatorVersion(in); !errors.Is(err, ErrInvalidVersion) {
			t.Errorf("ParseOperatorVersion(%q) = %v, want ErrInvalidVersion", in, err)
		}
	}
}
