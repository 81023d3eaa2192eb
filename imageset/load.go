package imageset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/enclave-mirror/enclave/ref"
	"go.yaml.in/yaml/v3"
)

// LoadFile reads and validates the ImageSetConfiguration at path. Messages
// name the file as path was given.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageset: %w", err)
	}
	defer f.Close()
	return Load(f, path)
}

// Load reads an ImageSetConfiguration from r and validates it the way
// oc-mirror does, strictly: unknown fields, wrong types, empty names,
// duplicate entries, bad references, versions and regular expressions are
// all errors. name is used in messages ("isc.yaml:7: ...").
//
// On failure Load returns every problem it found (up to a limit), each a
// [*ConfigError], joined with [errors.Join]; all wrap [ErrInvalidConfig].
// Input larger than [MaxConfigSize] is refused. YAML aliases and merge keys
// are refused too: a configuration has no use for them, and expanding them
// is how small files become large ones.
func Load(r io.Reader, name string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("imageset: reading %s: %w", name, err)
	}
	if len(data) > MaxConfigSize {
		return nil, &ConfigError{File: name, Msg: fmt.Sprintf("configuration larger than %d bytes", MaxConfigSize), Err: ErrInvalidConfig}
	}
	return parse(data, name)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): `)

func parse(data []byte, name string) (*Config, error) {
	d := &decoder{file: name}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: name, Msg: "empty configuration", Err: ErrInvalidConfig}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ConfigError{File: name, Line: extra.Line, Msg: "more than one YAML document; put one ImageSetConfiguration in a file", Err: ErrInvalidConfig}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	c := d.config(root)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c.Warnings = d.warns
	return c, nil
}

// yamlError turns a syntax error of the YAML parser into a ConfigError.
func yamlError(file string, err error) error {
	msg := err.Error()
	line := 0
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &ConfigError{File: file, Line: line, Msg: "YAML syntax: " + msg, Err: ErrInvalidConfig}
}

// decoder walks a yaml.Node tree, collecting errors with positions.
type decoder struct {
	file       string
	apiVersion string
	errs       []error
	warns      []string
	// key is the key node of the field whose handler runs (set by mapping
	// before each call; handlers that need it read it first).
	key *yaml.Node
}

// fail records a problem at n; the message is prefixed with path.
func (d *decoder) fail(n *yaml.Node, path string, sentinel error, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.failRaw(n, path, sentinel, msg)
}

// failRaw records a problem whose message already says where it is.
func (d *decoder) failRaw(n *yaml.Node, path string, sentinel error, msg string) {
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &ConfigError{File: d.file, Msg: "too many errors", Err: ErrInvalidConfig})
	}
	if len(d.errs) > maxErrors {
		return
	}
	e := &ConfigError{File: d.file, Path: path, Msg: msg, Err: sentinel}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// describe names a node's type for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool":
		return fmt.Sprintf("a boolean (%s)", n.Value)
	case "!!int", "!!float":
		return fmt.Sprintf("a number (%s)", n.Value)
	case "!!str":
		return fmt.Sprintf("a string (%q)", n.Value)
	}
	return fmt.Sprintf("%s (%q)", n.ShortTag(), n.Value)
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// noAlias reports (and refuses) alias nodes.
func (d *decoder) noAlias(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, ErrInvalidConfig, "YAML aliases are not supported; write the value out")
		return false
	}
	return true
}

// fields maps a key to its handler; the handler gets the value node and its path.
type fields map[string]func(v *yaml.Node, path string)

// mapping walks a mapping node: every key must be in fs, once. what names the
// object in unknown-field messages. A null node is an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path, what string, fs fields) bool {
	if !d.noAlias(n, path) {
		return false
	}
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, ErrInvalidConfig, "want a mapping, got %s", describe(n))
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			d.fail(k, path, ErrInvalidConfig, "want a field name, got %s", describe(k))
			continue
		}
		key := k.Value
		if key == "<<" {
			d.fail(k, path, ErrInvalidConfig, "YAML merge keys are not supported; write the fields out")
			continue
		}
		canon, ok := canonicalKey(key, fs)
		if !ok {
			d.failRaw(k, join(path, key), ErrUnknownField, fmt.Sprintf("unknown field %q in %s%s", key, what, d.hint(key, fs)))
			continue
		}
		if first, dup := seen[canon]; dup {
			d.fail(k, join(path, key), ErrInvalidConfig, "duplicate field %q (first at line %d)", canon, first)
			continue
		}
		seen[canon] = k.Line
		if canon != key {
			d.warn(k, "field %q in %s is spelled %q; read as %q (oc-mirror matches field names ignoring case)", key, what, canon, canon)
		}
		d.key = k
		fs[canon](v, join(path, canon))
	}
	return true
}

// hint explains an unknown field: fields of oc-mirror that enclave does not
// support, or a known field spelled with different case.
func (d *decoder) hint(key string, fs fields) string {
	ver := strings.TrimPrefix(d.apiVersion, "mirror.openshift.io/")
	switch key {
	case "storageConfig":
		if d.apiVersion == APIVersionV1Alpha2 {
			return " (oc-mirror v1 metadata storage; enclave keeps no sender-side history; remove it)"
		}
		if ver == "" {
			ver = "v2alpha1"
		}
		return " (not supported by " + ver + "; remove it)"
	case "delete":
		return " (delete belongs to kind DeleteImageSetConfiguration, and enclave does not delete images; remove it)"
	case "targetCatalogSourceTemplate":
		return " (an oc-mirror field enclave does not support yet; remove it)"
	case "originalRef":
		return " (an oc-mirror v1 field that oc-mirror v2 does not read either; remove it)"
	case "targetName":
		return " (oc-mirror v1's name for targetCatalog; oc-mirror v2 reads targetCatalog)"
	case "minBundle":
		return " (an oc-mirror v1 field that oc-mirror v2 does not read; use minVersion)"
	}
	return didYouMean(key, fs)
}

// sequence walks a list node; a null node is an empty list.
func (d *decoder) sequence(n *yaml.Node, path string, item func(i int, v *yaml.Node, path string)) {
	if !d.noAlias(n, path) || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, ErrInvalidConfig, "want a list, got %s", describe(n))
		return
	}
	for i, v := range n.Content {
		if d.noAlias(v, index(path, i)) {
			item(i, v, index(path, i))
		}
	}
}

// str reads a string scalar. Numbers are refused, as oc-mirror refuses
// them: "targetTag: 1.10" is the number 1.1 to YAML, so the message asks for
// quotes. Null, booleans and collections are refused too.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if !d.noAlias(n, path) {
		return "", false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			return n.Value, true
		case "!!int", "!!float":
			d.fail(n, path, ErrInvalidConfig, "want a string, got %s; quote it (\"%s\") if that is the value you mean", describe(n), n.Value)
			return "", false
		}
	}
	d.fail(n, path, ErrInvalidConfig, "want a string, got %s", describe(n))
	return "", false
}

// name reads a required, non-empty string without surrounding space.
func (d *decoder) name(n *yaml.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		d.fail(n, path, ErrInvalidConfig, "must not be empty")
		return "", false
	}
	if strings.TrimSpace(s) != s {
		d.fail(n, path, ErrInvalidConfig, "%q has leading or trailing space", s)
		return "", false
	}
	return s, true
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	if !d.noAlias(n, path) {
		return false
	}
	var b bool
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && n.Decode(&b) == nil {
		return b
	}
	if b, ok := yaml11Bool(n); ok {
		return b
	}
	d.fail(n, path, ErrInvalidConfig, "want true or false, got %s", describe(n))
	return false
}

func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	if !d.noAlias(n, path) {
		return 0, false
	}
	var i int64
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Decode(&i) == nil {
		return i, true
	}
	d.fail(n, path, ErrInvalidConfig, "want an integer, got %s", describe(n))
	return 0, false
}

func (d *decoder) version(n *yaml.Node, path string) *Version {
	s, ok := d.str(n, path)
	if !ok {
		return nil
	}
	v, err := ParseVersion(s)
	if err != nil {
		d.fail(n, path, ErrInvalidVersion, "%s", strings.TrimPrefix(err.Error(), ErrInvalidVersion.Error()+": "))
		return nil
	}
	return &v
}

// versionRange checks min <= max, reporting at the mapping node.
func (d *decoder) versionRange(n *yaml.Node, path string, lo, hi *Version) {
	if lo != nil && hi != nil && lo.Compare(*hi) > 0 {
		d.fail(n, path, ErrInvalidVersion, "minVersion %s is greater than maxVersion %s", lo, hi)
	}
}

// reference reads an image reference that must carry a tag or digest. A
// docker:// prefix is dropped (oc-mirror accepts it); the string returned
// is the reference without it.
func (d *decoder) reference(n *yaml.Node, path string) (Reference, string, bool) {
	s, ok := d.name(n, path)
	if !ok {
		return Reference{}, "", false
	}
	s = stripDocker(s)
	ref, err := parseReference(s)
	if err != nil {
		d.fail(n, path, ErrInvalidReference, "%v", err)
		return Reference{}, "", false
	}
	if !ref.HasVersion() {
		d.fail(n, path, ErrInvalidReference, "%q has neither tag nor digest; write %s:latest if that is what you mean", s, s)
		return Reference{}, "", false
	}
	return ref, s, true
}

// dups remembers keys of list entries to report duplicates.
type dups map[string]int

func (d *decoder) dup(seen dups, key string, n *yaml.Node, path, what string) {
	if first, ok := seen[key]; ok {
		d.fail(n, path, ErrInvalidConfig, "duplicate %s (first at line %d)", what, first)
		return
	}
	seen[key] = n.Line
}

// config walks the document root.
func (d *decoder) config(root *yaml.Node) *Config {
	c := &Config{File: d.file}
	if !d.noAlias(root, "") {
		return c
	}
	if root.Kind != yaml.MappingNode {
		d.fail(root, "", ErrInvalidConfig, "want an ImageSetConfiguration mapping, got %s", describe(root))
		return c
	}
	// kind and apiVersion first: they decide the hints for everything else.
	var kindNode, apiNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k := root.Content[i].Value; {
		case k == "kind": // oc-mirror reads kind by its exact name
			kindNode = root.Content[i+1]
		case strings.EqualFold(k, "apiVersion"):
			apiNode = root.Content[i+1]
		}
	}
	accepted := fmt.Sprintf("%q or %q", APIVersionV2Alpha1, APIVersionV1Alpha2)
	switch {
	case kindNode == nil:
		d.fail(root, "", ErrUnsupportedVersion, "missing kind (want %q)", Kind)
	case kindNode.Value == "DeleteImageSetConfiguration":
		d.fail(kindNode, "kind", ErrUnsupportedVersion, "%q is not supported: enclave does not delete images from registries (want %q)", kindNode.Value, Kind)
	case kindNode.Value != Kind || kindNode.ShortTag() != "!!str":
		d.fail(kindNode, "kind", ErrUnsupportedVersion, "%q is not supported (want %q)", kindNode.Value, Kind)
	}
	switch {
	case apiNode == nil:
		d.fail(root, "", ErrUnsupportedVersion, "missing apiVersion (want %s)", accepted)
	case apiNode.Value == APIVersionV2Alpha1 || apiNode.Value == APIVersionV1Alpha2:
		d.apiVersion = apiNode.Value
		c.APIVersion = apiNode.Value
	default:
		d.fail(apiNode, "apiVersion", ErrUnsupportedVersion, "%q is not supported (accepted: %s)", apiNode.Value, accepted)
	}
	fs := fields{
		"kind":       func(*yaml.Node, string) {},
		"apiVersion": func(*yaml.Node, string) {},
		"archiveSize": func(v *yaml.Node, p string) {
			n, ok := d.integer(v, p)
			switch {
			case !ok:
			case n <= 0:
				d.fail(v, p, ErrInvalidConfig, "must be a positive number of GiB, got %d", n)
			case n > MaxArchiveSizeGiB:
				d.fail(v, p, ErrInvalidConfig, "%d GiB is more than the limit of %d GiB", n, MaxArchiveSizeGiB)
			default:
				c.ArchiveSizeGiB = n
			}
		},
		"mirror": func(v *yaml.Node, p string) { c.Mirror = d.mirror(v, p) },
	}
	if d.apiVersion == APIVersionV1Alpha2 {
		fs["storageConfig"] = d.storageConfig
	}
	d.mapping(root, "", Kind, fs)
	d.requireMirror(root)
	return c
}

func (d *decoder) mirror(n *yaml.Node, path string) Mirror {
	var m Mirror
	d.mapping(n, path, path, fields{
		"platform": func(v *yaml.Node, p string) {
			m.Platform = d.platform(v, p)
			m.Platform.Line = keyLine(n, "platform")
		},
		"operators": func(v *yaml.Node, p string) {
			seen := dups{}
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				if op, ok := d.operator(v, p); ok {
					d.dup(seen, op.Catalog+"\x00"+op.TargetCatalog+"\x00"+op.TargetTag, v, p, fmt.Sprintf("catalog %q", op.Catalog))
					m.Operators = append(m.Operators, op)
				}
			})
		},
		"additionalImages": func(v *yaml.Node, p string) {
			seen := dups{}
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				if img, ok := d.additionalImage(v, p); ok {
					d.dup(seen, img.Name.String()+"\x00"+img.TargetRepo+"\x00"+img.TargetTag, v, p, fmt.Sprintf("image %q", img.Raw))
					m.AdditionalImages = append(m.AdditionalImages, img)
				}
			})
		},
		"helm": func(v *yaml.Node, p string) {
			m.Helm = d.helm(v, p)
			m.Helm.Line = keyLine(n, "helm")
		},
		"samples": d.samples,
		"blockedImages": func(v *yaml.Node, p string) {
			seen := dups{}
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				var b BlockedImage
				var raw string
				d.mapping(v, p, p, fields{
					"name": func(v *yaml.Node, p string) {
						s, ok := d.name(v, p)
						if !ok {
							return
						}
						re, err := regexp.Compile(s)
						if err != nil {
							d.fail(v, p, ErrInvalidConfig, "invalid regular expression %q: %v", s, err)
							return
						}
						raw, b.Pattern = s, re
					},
				})
				d.require(v, p, "name")
				if b.Pattern == nil {
					return
				}
				b.Line = v.Line
				d.dup(seen, raw, v, p, fmt.Sprintf("blocked image %q", raw))
				m.BlockedImages = append(m.BlockedImages, b)
			})
		},
	})
	return m
}

// hasKey reports whether mapping node n has key (used to avoid a second
// "missing" error when the field was present but invalid).
func (d *decoder) hasKey(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return true // the type error was already reported
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if strings.EqualFold(n.Content[i].Value, key) {
			return true
		}
	}
	return false
}

// keyLine returns the line of key in mapping n, 0 if absent.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if strings.EqualFold(n.Content[i].Value, key) {
			return n.Content[i].Line
		}
	}
	return 0
}

// require reports a missing required field.
func (d *decoder) require(n *yaml.Node, path, key string) {
	if !d.hasKey(n, key) {
		d.fail(n, path, ErrInvalidConfig, "missing %s", key)
	}
}

func (d *decoder) platform(n *yaml.Node, path string) *Platform {
	key := d.key
	p := &Platform{Line: n.Line}
	seenCh, seenArch := dups{}, dups{}
	d.mapping(n, path, path, fields{
		"channels": func(v *yaml.Node, pp string) {
			d.sequence(v, pp, func(_ int, v *yaml.Node, pp string) {
				ch := ReleaseChannel{Line: v.Line}
				d.mapping(v, pp, pp, fields{
					"name": func(v *yaml.Node, p string) { ch.Name, _ = d.name(v, p) },
					"type": func(v *yaml.Node, p string) {
						s, ok := d.str(v, p)
						if !ok {
							return
						}
						if s != ChannelTypeOCP && s != ChannelTypeOKD {
							d.fail(v, p, ErrInvalidConfig, "type %q is not supported (want %q or %q)", s, ChannelTypeOCP, ChannelTypeOKD)
							return
						}
						ch.Type = s
					},
					"minVersion":   func(v *yaml.Node, p string) { ch.MinVersion = d.version(v, p) },
					"maxVersion":   func(v *yaml.Node, p string) { ch.MaxVersion = d.version(v, p) },
					"shortestPath": func(v *yaml.Node, p string) { ch.ShortestPath = d.boolean(v, p) },
					"full":         func(v *yaml.Node, p string) { ch.Full = d.boolean(v, p) },
				})
				d.require(v, pp, "name")
				d.versionRange(v, pp, ch.MinVersion, ch.MaxVersion)
				if ch.Type == "" {
					ch.Type = ChannelTypeOCP
				}
				if ch.Name != "" {
					d.dup(seenCh, ch.Type+"\x00"+ch.Name, v, pp, fmt.Sprintf("channel %q", ch.Name))
					p.Channels = append(p.Channels, ch)
				}
			})
		},
		"architectures": func(v *yaml.Node, pp string) {
			d.sequence(v, pp, func(_ int, v *yaml.Node, pp string) {
				s, ok := d.name(v, pp)
				if !ok {
					return
				}
				if !slices.Contains(Architectures, s) {
					d.fail(v, pp, ErrInvalidConfig, "architecture %q is not supported (want one of %s)", s, strings.Join(Architectures, ", "))
					return
				}
				d.dup(seenArch, s, v, pp, fmt.Sprintf("architecture %q", s))
				p.Architectures = append(p.Architectures, s)
			})
		},
		"graph": func(v *yaml.Node, pp string) { p.Graph = d.boolean(v, pp) },
		"release": func(v *yaml.Node, pp string) {
			if _, s, ok := d.reference(v, pp); ok {
				p.Release = s
			}
		},
		"platforms":         func(v *yaml.Node, pp string) { p.Platforms = d.platforms(v, pp) },
		"kubeVirtContainer": func(v *yaml.Node, pp string) { p.KubeVirtContainer = d.boolean(v, pp) },
	})
	d.platformCompat(key, n, path, p)
	if len(p.Architectures) == 0 {
		p.Architectures = []string{"amd64"}
	}
	return p
}

func (d *decoder) operator(n *yaml.Node, path string) (Operator, bool) {
	op := Operator{Line: n.Line}
	seenPkg := dups{}
	d.mapping(n, path, path, fields{
		"catalog": func(v *yaml.Node, p string) {
			s, ok := d.name(v, p)
			if !ok {
				return
			}
			s = stripDocker(s)
			if dir, isOCI := strings.CutPrefix(s, "oci://"); isOCI {
				if dir == "" {
					d.fail(v, p, ErrInvalidConfig, "%q names no path", s)
					return
				}
			} else if strings.Contains(s, "://") {
				d.fail(v, p, ErrInvalidReference, "%q: want an image reference or an oci:// path", s)
				return
			} else if _, _, ok := d.reference(v, p); !ok {
				return
			}
			op.Catalog = s
		},
		"targetCatalog": func(v *yaml.Node, p string) {
			s, ok := d.name(v, p)
			if ok {
				if err := ref.ValidateRepository(s); err != nil {
					d.fail(v, p, ErrInvalidReference, "%v (want a repository path such as org/catalog)", err)
					return
				}
				op.TargetCatalog = s
			}
		},
		"targetTag": func(v *yaml.Node, p string) {
			if s, ok := d.tag(v, p); ok {
				op.TargetTag = s
			}
		},
		"targetCatalogSourceTemplate": func(v *yaml.Node, p string) {
			if s, ok := d.name(v, p); ok {
				op.TargetCatalogSourceTemplate = s
			}
		},
		"full":             func(v *yaml.Node, p string) { op.Full = d.boolean(v, p) },
		"skipDependencies": func(v *yaml.Node, p string) { op.SkipDependencies = d.boolean(v, p) },
		"platforms":        func(v *yaml.Node, p string) { op.Platforms = d.platforms(v, p) },
		"packages": func(v *yaml.Node, p string) {
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				pkg := d.operatorPackage(v, p)
				if pkg.Name != "" {
					d.dup(seenPkg, pkg.Name, v, p, fmt.Sprintf("package %q", pkg.Name))
					op.Packages = append(op.Packages, pkg)
				}
			})
		},
	})
	d.require(n, path, "catalog")
	return op, op.Catalog != ""
}

func (d *decoder) tag(n *yaml.Node, path string) (string, bool) {
	s, ok := d.name(n, path)
	if !ok {
		return "", false
	}
	if ref.ValidateTag(s) != nil {
		d.fail(n, path, ErrInvalidReference, "invalid tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", s)
		return "", false
	}
	return s, true
}

func (d *decoder) operatorPackage(n *yaml.Node, path string) OperatorPackage {
	pkg := OperatorPackage{Line: n.Line}
	seenCh := dups{}
	d.mapping(n, path, path, fields{
		"name":           func(v *yaml.Node, p string) { pkg.Name, _ = d.name(v, p) },
		"defaultChannel": func(v *yaml.Node, p string) { pkg.DefaultChannel, _ = d.name(v, p) },
		"minVersion":     func(v *yaml.Node, p string) { pkg.MinVersion = d.operatorVersion(v, p) },
		"maxVersion":     func(v *yaml.Node, p string) { pkg.MaxVersion = d.operatorVersion(v, p) },
		"channels": func(v *yaml.Node, p string) {
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				ch := OperatorChannel{Line: v.Line}
				d.mapping(v, p, p, fields{
					"name":       func(v *yaml.Node, p string) { ch.Name, _ = d.name(v, p) },
					"minVersion": func(v *yaml.Node, p string) { ch.MinVersion = d.operatorVersion(v, p) },
					"maxVersion": func(v *yaml.Node, p string) { ch.MaxVersion = d.operatorVersion(v, p) },
				})
				d.require(v, p, "name")
				d.versionRange(v, p, ch.MinVersion, ch.MaxVersion)
				if ch.Name != "" {
					d.dup(seenCh, ch.Name, v, p, fmt.Sprintf("channel %q", ch.Name))
					pkg.Channels = append(pkg.Channels, ch)
				}
			})
		},
	})
	d.require(n, path, "name")
	d.versionRange(n, path, pkg.MinVersion, pkg.MaxVersion)
	d.packageVersionMix(n, path, pkg)
	return pkg
}

func (d *decoder) additionalImage(n *yaml.Node, path string) (AdditionalImage, bool) {
	img := AdditionalImage{Line: n.Line}
	ok := false
	d.mapping(n, path, path, fields{
		"platforms": func(v *yaml.Node, p string) { img.Platforms = d.platforms(v, p) },
		"name": func(v *yaml.Node, p string) {
			if strings.HasPrefix(v.Value, "oci://") {
				img.Raw = v.Value
				img.Layout, img.Name, ok = d.layoutSource(v, p)
				return
			}
			img.Name, _, ok = d.reference(v, p)
			img.Raw = v.Value
		},
		"targetRepo": func(v *yaml.Node, p string) {
			s, good := d.name(v, p)
			if !good {
				return
			}
			if err := ref.ValidateRepository(s); err != nil {
				d.fail(v, p, ErrInvalidReference, "%v (want a repository path without host or tag, such as org/app)", err)
				return
			}
			img.TargetRepo = s
		},
		"targetTag": func(v *yaml.Node, p string) {
			if s, good := d.tag(v, p); good {
				img.TargetTag = s
			}
		},
	})
	d.require(n, path, "name")
	if ok && img.Layout != "" {
		if img.TargetRepo == "" {
			d.fail(n, path, ErrInvalidReference, "%q is an OCI image layout: give targetRepo, the repository to push it to", img.Raw)
			return img, false
		}
		img.Name.Repository = img.TargetRepo
	}
	return img, ok
}

// layoutSource parses "oci://DIR:tag" or "oci://DIR@sha256:...": the
// directory of an OCI image layout and the image in it.
func (d *decoder) layoutSource(v *yaml.Node, p string) (string, Reference, bool) {
	r := Reference{Registry: LayoutRegistry}
	loc, err := ref.ParseLocation(v.Value)
	if err != nil {
		d.fail(v, p, ErrInvalidReference, "%v", err)
		return "", r, false
	}
	r.Tag, r.Digest = loc.Reference.Tag, loc.Reference.Digest
	if !r.HasVersion() {
		d.fail(v, p, ErrInvalidReference, "%q names no image in the layout: add :tag or @sha256:... (write :latest if that is what you mean)", v.Value)
		return "", r, false
	}
	return loc.Path, r, true
}

func (d *decoder) helm(n *yaml.Node, path string) *Helm {
	h := &Helm{Line: n.Line}
	d.mapping(n, path, path, fields{
		"repositories": func(v *yaml.Node, p string) {
			seen := dups{}
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				r := HelmRepository{Line: v.Line}
				seenChart := dups{}
				d.mapping(v, p, p, fields{
					"name": func(v *yaml.Node, p string) { r.Name, _ = d.name(v, p) },
					"url": func(v *yaml.Node, p string) {
						s, ok := d.name(v, p)
						if !ok {
							return
						}
						u, err := url.Parse(s)
						if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "oci") || u.Host == "" {
							d.fail(v, p, ErrInvalidConfig, "%q: want an http, https or oci URL with a host", s)
							return
						}
						r.URL = s
					},
					"charts": func(v *yaml.Node, p string) {
						d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
							ch := HelmChart{Line: v.Line}
							fs := d.helmChartOptions(&ch.HelmChartOptions)
							fs["name"] = func(v *yaml.Node, p string) { ch.Name, _ = d.name(v, p) }
							fs["version"] = func(v *yaml.Node, p string) { ch.Version, _ = d.name(v, p) }
							d.mapping(v, p, p, fs)
							d.require(v, p, "name")
							if ch.Name != "" {
								d.dup(seenChart, ch.Name+"\x00"+ch.Version, v, p, fmt.Sprintf("chart %q version %q", ch.Name, ch.Version))
								r.Charts = append(r.Charts, ch)
							}
						})
					},
				})
				d.require(v, p, "name")
				d.require(v, p, "url")
				if r.Name != "" {
					d.dup(seen, r.Name, v, p, fmt.Sprintf("repository %q", r.Name))
					h.Repositories = append(h.Repositories, r)
				}
			})
		},
		"local": func(v *yaml.Node, p string) {
			seen := dups{}
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				l := HelmLocal{Line: v.Line}
				fs := d.helmChartOptions(&l.HelmChartOptions)
				fs["name"] = func(v *yaml.Node, p string) { l.Name, _ = d.name(v, p) }
				fs["path"] = func(v *yaml.Node, p string) { l.Path, _ = d.name(v, p) }
				d.mapping(v, p, p, fs)
				d.require(v, p, "name")
				d.require(v, p, "path")
				if l.Name != "" {
					d.dup(seen, l.Name, v, p, fmt.Sprintf("local chart %q", l.Name))
					h.Local = append(h.Local, l)
				}
			})
		},
	})
	return h
}

// helmChartOptions returns the handlers of the per-chart fields that
// repository and local charts share.
func (d *decoder) helmChartOptions(o *HelmChartOptions) fields {
	strs := func(dst *[]string, check func(s string) string) func(v *yaml.Node, p string) {
		return func(v *yaml.Node, p string) {
			d.sequence(v, p, func(_ int, v *yaml.Node, p string) {
				s, ok := d.name(v, p)
				if !ok {
					return
				}
				if msg := check(s); msg != "" {
					d.fail(v, p, ErrInvalidConfig, "%q: %s", s, msg)
					return
				}
				*dst = append(*dst, s)
			})
		}
	}
	return fields{
		"imagePaths": strs(&o.ImagePaths, func(s string) string {
			if !strings.Contains(s, "{") || !strings.Contains(s, "}") {
				return "want a JSONPath template in braces, such as {.spec.template.spec.containers[*].env[*].value}"
			}
			return ""
		}),
		"platforms":   func(v *yaml.Node, p string) { o.Platforms = d.platforms(v, p) },
		"valuesFiles": strs(&o.ValuesFiles, func(string) string { return "" }),
		"values": func(v *yaml.Node, p string) {
			if !d.noAlias(v, p) || isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				d.fail(v, p, ErrInvalidConfig, "want a mapping of chart values, got %s", describe(v))
				return
			}
			if hasAlias(v) {
				d.fail(v, p, ErrInvalidConfig, "YAML aliases are not supported; write the value out")
				return
			}
			var m map[string]any
			if err := v.Decode(&m); err != nil {
				d.fail(v, p, ErrInvalidConfig, "%v", err)
				return
			}
			o.Values = m
		},
	}
}

// hasAlias reports whether n or a node below it is an alias.
func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	return slices.ContainsFunc(n.Content, hasAlias)
}
