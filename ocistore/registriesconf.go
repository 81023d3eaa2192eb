package ocistore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Where registries.conf lives when no path is given.
const (
	// SystemRegistriesConf is the system-wide file.
	SystemRegistriesConf = "/etc/containers/registries.conf"
	// userRegistriesConf is relative to $HOME.
	userRegistriesConf = ".config/containers/registries.conf"
	// maxRegistriesConfSize bounds one configuration file.
	maxRegistriesConfSize = 4 << 20
)

// Values of MirrorConf.PullFromMirror.
const (
	PullFromMirrorAll        = "all"
	PullFromMirrorDigestOnly = "digest-only"
	PullFromMirrorTagOnly    = "tag-only"
)

// RegistriesConf is a parsed containers-registries.conf(5), version 2, with
// its drop-in files merged. The zero value (no file) redirects nothing.
type RegistriesConf struct {
	// UnqualifiedSearchRegistries is parsed but not used: this package only
	// handles fully-qualified references.
	UnqualifiedSearchRegistries []string
	// ShortNameMode is parsed ("enforcing", "permissive", "disabled" or
	// empty) but not used, for the same reason.
	ShortNameMode string
	// Aliases are the [aliases] short-name table, merged over drop-ins.
	Aliases map[string]string
	// CredentialHelpers is parsed, not used (auth comes from Keychain).
	CredentialHelpers []string
	// Registries are the [[registry]] tables; among drop-ins a later entry
	// with the same prefix replaces an earlier one.
	Registries []RegistryConf
	// Files are the files read, in order.
	Files []string
}

// RegistryConf is one [[registry]] table.
type RegistryConf struct {
	// Prefix selects the references this table applies to: host[:port],
	// host[:port]/path, or *.domain (subdomains of domain).
	Prefix string
	// Location replaces the matched prefix; empty means Prefix.
	Location string
	// Insecure allows plain HTTP and unverified TLS.
	Insecure bool
	// Blocked forbids pulling matching references.
	Blocked bool
	// MirrorByDigestOnly uses mirrors only for references with a digest.
	MirrorByDigestOnly bool
	// Mirrors are tried in order before Location.
	Mirrors []MirrorConf
	// File is the file the table came from.
	File string
}

// MirrorConf is one [[registry.mirror]] table.
type MirrorConf struct {
	Location string
	Insecure bool
	// PullFromMirror is "all" (or empty), "digest-only" or "tag-only".
	PullFromMirror string
}

// PullSource is one endpoint to try when pulling a reference.
type PullSource struct {
	// Reference is where to fetch from (the rewritten reference).
	Reference Reference
	// Insecure allows plain HTTP and unverified TLS for this endpoint.
	Insecure bool
	// Mirror is true for a [[registry.mirror]], false for the origin.
	Mirror bool
}

// String describes the source for progress output, e.g.
// "mirror mirror.local/quay/org/app:1.2".
func (p PullSource) String() string {
	if p.Mirror {
		return "mirror " + p.Reference.String()
	}
	return "origin " + p.Reference.String()
}

// tomlFile is the on-disk shape; every key containers-registries.conf(5)
// v2 defines. Anything else is reported by name.
type tomlFile struct {
	UnqualifiedSearchRegistries []string          `toml:"unqualified-search-registries"`
	ShortNameMode               string            `toml:"short-name-mode"`
	CredentialHelpers           []string          `toml:"credential-helpers"`
	Aliases                     map[string]string `toml:"aliases"`
	Registry                    []struct {
		Prefix             string `toml:"prefix"`
		Location           string `toml:"location"`
		Insecure           bool   `toml:"insecure"`
		Blocked            bool   `toml:"blocked"`
		MirrorByDigestOnly bool   `toml:"mirror-by-digest-only"`
		Mirror             []struct {
			Location       string `toml:"location"`
			Insecure       bool   `toml:"insecure"`
			PullFromMirror string `toml:"pull-from-mirror"`
		} `toml:"mirror"`
	} `toml:"registry"`
}

// LoadRegistriesConf reads registries.conf and its drop-ins. The main file
// is path if given (it must exist), else $CONTAINERS_REGISTRIES_CONF (must
// exist), else $HOME/.config/containers/registries.conf if it exists, else
// /etc/containers/registries.conf. Drop-ins are the *.conf files of the
// directory named like the main file plus ".d", in lexical order. No file at
// all gives an empty configuration.
func LoadRegistriesConf(path string) (*RegistriesConf, error) {
	home, _ := os.UserHomeDir()
	return loadRegistriesConf(path, home, SystemRegistriesConf)
}

func loadRegistriesConf(explicit, home, system string) (*RegistriesConf, error) {
	main, mustExist := explicit, explicit != ""
	if main == "" {
		if env := os.Getenv("CONTAINERS_REGISTRIES_CONF"); env != "" {
			main, mustExist = env, true
		}
	}
	if main == "" && home != "" {
		if p := filepath.Join(home, userRegistriesConf); fileExists(p) {
			main = p
		}
	}
	if main == "" {
		main = system
	}
	conf := &RegistriesConf{}
	if err := conf.mergeFile(main); err != nil {
		if !errors.Is(err, fs.ErrNotExist) || mustExist {
			return nil, err
		}
	}
	dropins, err := filepath.Glob(filepath.Join(main+".d", "*.conf"))
	if err != nil {
		return nil, fmt.Errorf("ocistore: registries.conf drop-ins: %w", err)
	}
	sort.Strings(dropins)
	for _, p := range dropins {
		if err := conf.mergeFile(p); err != nil {
			return nil, err
		}
	}
	return conf, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ParseRegistriesConf parses one file's content (name is used in errors)
// into a configuration, as if it were the only file.
func ParseRegistriesConf(name string, data []byte) (*RegistriesConf, error) {
	conf := &RegistriesConf{}
	if err := conf.merge(name, data); err != nil {
		return nil, err
	}
	return conf, nil
}

func (c *RegistriesConf) mergeFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("ocistore: registries.conf: %w", err)
	}
	if info.Size() > maxRegistriesConfSize {
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidConfig, path, maxRegistriesConfSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ocistore: registries.conf: %w", err)
	}
	return c.merge(path, data)
}

// merge applies one file over c, as containers/image merges drop-ins.
func (c *RegistriesConf) merge(file string, data []byte) error {
	var raw tomlFile
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, file, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		key := undec[0].String()
		if strings.HasPrefix(key, "registries.") || key == "registries" {
			return fmt.Errorf("%w: %s: unknown key %q (version 1 registries.conf is not supported, use [[registry]] tables)", ErrInvalidConfig, file, key)
		}
		return fmt.Errorf("%w: %s: unknown key %q", ErrInvalidConfig, file, key)
	}
	if md.IsDefined("unqualified-search-registries") {
		c.UnqualifiedSearchRegistries = raw.UnqualifiedSearchRegistries
	}
	if md.IsDefined("short-name-mode") {
		switch raw.ShortNameMode {
		case "", "enforcing", "permissive", "disabled":
		default:
			return fmt.Errorf("%w: %s: short-name-mode %q (want enforcing, permissive or disabled)", ErrInvalidConfig, file, raw.ShortNameMode)
		}
		c.ShortNameMode = raw.ShortNameMode
	}
	if md.IsDefined("credential-helpers") {
		c.CredentialHelpers = raw.CredentialHelpers
	}
	for k, v := range raw.Aliases {
		if c.Aliases == nil {
			c.Aliases = map[string]string{}
		}
		if v == "" {
			delete(c.Aliases, k)
		} else {
			c.Aliases[k] = v
		}
	}
	for i, r := range raw.Registry {
		reg := RegistryConf{
			Prefix: r.Prefix, Location: r.Location, Insecure: r.Insecure, Blocked: r.Blocked,
			MirrorByDigestOnly: r.MirrorByDigestOnly, File: file,
		}
		for _, m := range r.Mirror {
			reg.Mirrors = append(reg.Mirrors, MirrorConf{Location: m.Location, Insecure: m.Insecure, PullFromMirror: m.PullFromMirror})
		}
		if err := reg.normalise(); err != nil {
			return fmt.Errorf("%w: %s: [[registry]] #%d: %w", ErrInvalidConfig, file, i+1, err)
		}
		replaced := false
		for j := range c.Registries {
			if c.Registries[j].Prefix == reg.Prefix {
				if c.Registries[j].File == file {
					return fmt.Errorf("%w: %s: prefix %q defined twice", ErrInvalidConfig, file, reg.Prefix)
				}
				c.Registries[j], replaced = reg, true
			}
		}
		if !replaced {
			c.Registries = append(c.Registries, reg)
		}
	}
	c.Files = append(c.Files, file)
	return nil
}

// normalise fills defaults and validates one table.
func (r *RegistryConf) normalise() error {
	if r.Prefix == "" {
		if r.Location == "" {
			return errors.New("neither prefix nor location is set")
		}
		if err := checkConfLocation(r.Location); err != nil {
			return fmt.Errorf("location: %w", err)
		}
		r.Prefix = r.Location
	}
	if strings.HasPrefix(r.Prefix, "*.") {
		if !domainRE.MatchString(r.Prefix[2:]) || strings.Contains(r.Prefix[2:], ":") {
			return fmt.Errorf("wildcard prefix %q must be *.domain", r.Prefix)
		}
		if r.Location != "" {
			return fmt.Errorf("prefix %q: location is not allowed with a wildcard prefix", r.Prefix)
		}
	} else if err := checkConfLocation(r.Prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	if r.Location != "" {
		if err := checkConfLocation(r.Location); err != nil {
			return fmt.Errorf("location: %w", err)
		}
	}
	for i, m := range r.Mirrors {
		if m.Location == "" {
			return fmt.Errorf("mirror #%d has no location", i+1)
		}
		if err := checkConfLocation(m.Location); err != nil {
			return fmt.Errorf("mirror #%d location: %w", i+1, err)
		}
		switch m.PullFromMirror {
		case "", PullFromMirrorAll, PullFromMirrorDigestOnly, PullFromMirrorTagOnly:
		default:
			return fmt.Errorf("mirror #%d: pull-from-mirror %q (want all, digest-only or tag-only)", i+1, m.PullFromMirror)
		}
		if r.MirrorByDigestOnly && m.PullFromMirror != "" {
			return fmt.Errorf("mirror #%d: pull-from-mirror cannot be combined with mirror-by-digest-only", i+1)
		}
	}
	return nil
}

// checkConfLocation validates host[:port][/path][:tag|@digest] without
// Docker Hub normalisation.
func checkConfLocation(s string) error {
	if err := checkInput(s); err != nil {
		return err
	}
	host, rest, _ := strings.Cut(s, "/")
	ref := Reference{Registry: host}
	if rest != "" {
		r, err := ParseReference("x.invalid/" + rest)
		if err != nil {
			return fmt.Errorf("%w: %q is not host[:port][/path][:tag|@digest]", ErrInvalidReference, s)
		}
		ref.Repository, ref.Tag, ref.Digest = r.Repository, r.Tag, r.Digest
	}
	return ref.Validate()
}

// Lookup returns the [[registry]] table with the longest prefix matching
// ref, if any, and how many bytes of ref.String() the prefix matched.
//
// Prefixes are compared byte for byte, host names included, as
// containers/image does (sysregistriesv2.FindRegistry matches
// reference.Named.Name() with strings.HasPrefix, and its wildcard
// prefixes with strings.Index; neither folds case): a prefix
// "localhost:5701/org" does not match "LOCALHOST:5701/org/app". Since
// host names are not case-sensitive on the network, PullSources refuses a
// reference whose match would change if host names were compared without
// case (see CaseDependent), instead of letting it escape a block or a
// mirror.
func (c *RegistriesConf) Lookup(ref Reference) (RegistryConf, int, bool) {
	i, n := c.lookup(ref, false)
	if i < 0 {
		return RegistryConf{}, 0, false
	}
	return c.Registries[i], n, true
}

// lookup returns the index of the table with the longest prefix matching
// ref (-1: none) and the bytes matched; fold compares host names without
// case.
func (c *RegistriesConf) lookup(ref Reference, fold bool) (int, int) {
	if c == nil {
		return -1, 0
	}
	if fold {
		ref.Registry = strings.ToLower(ref.Registry)
	}
	s := ref.String()
	best, bestLen := -1, -1
	for i, r := range c.Registries {
		prefix := r.Prefix
		if fold {
			host, rest, found := strings.Cut(prefix, "/")
			prefix = strings.ToLower(host)
			if found {
				prefix += "/" + rest
			}
		}
		if n := matchPrefix(ref, s, prefix); n > bestLen {
			best, bestLen = i, n
		}
	}
	return best, bestLen
}

// CaseDependent returns an error wrapping ErrInvalidReference when the
// [[registry]] table that applies to ref depends on the case of host
// names: byte for byte (the rule, containers/image's) ref matches one
// table, or none, and with host names compared without case it would
// match another. "LOCALHOST:5701/org/app" beside a block of
// "localhost:5701/org" is the case: the same registry, which the block
// would not stop.
func (c *RegistriesConf) CaseDependent(ref Reference) error {
	exact, _ := c.lookup(ref, false)
	folded, _ := c.lookup(ref, true)
	if exact == folded {
		return nil
	}
	name := func(i int) string {
		if i < 0 {
			return "no [[registry]] table"
		}
		r := c.Registries[i]
		return fmt.Sprintf("[[registry]] prefix %q in %s", r.Prefix, r.File)
	}
	return fmt.Errorf("%w: %s: registries.conf prefixes are compared byte for byte, as containers/image compares them, so this reference matches %s, while its registry, whose host names are not case-sensitive, is also named by %s: write host names in lower case, in the image set and in registries.conf",
		ErrInvalidReference, ref, name(exact), name(folded))
}

// matchPrefix returns how many bytes of s (the reference string) prefix
// matches, or -1. A match must end at a separator ('/', or ':' / '@' once
// past the registry, so prefix "host" does not match "host:5000/...").
// Bytes are compared as they are (see Lookup).
func matchPrefix(ref Reference, s, prefix string) int {
	if strings.HasPrefix(prefix, "*.") {
		host := ref.Registry
		if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
			host = h
		}
		if strings.HasSuffix(host, prefix[1:]) && len(host) > len(prefix)-1 {
			return len(ref.Registry)
		}
		return -1
	}
	if !strings.HasPrefix(s, prefix) {
		return -1
	}
	if len(s) == len(prefix) {
		return len(prefix)
	}
	switch s[len(prefix)] {
	case '/':
		return len(prefix)
	case ':', '@':
		if strings.Contains(prefix, "/") {
			return len(prefix)
		}
	}
	return -1
}

// PullSources lists, in order, where to pull ref from: the mirrors that
// apply to this kind of reference (digest or tag), then the origin
// (rewritten by location). A blocked reference is an error wrapping
// ErrBlocked; one whose match depends on the case of host names
// (CaseDependent) an error wrapping ErrInvalidReference.
func (c *RegistriesConf) PullSources(ref Reference) ([]PullSource, error) {
	return c.pullSources(ref, false)
}

// pullSources is PullSources; with anyKind every mirror applies (content
// addressed by digest, where tag drift cannot happen).
func (c *RegistriesConf) pullSources(ref Reference, anyKind bool) ([]PullSource, error) {
	if err := c.CaseDependent(ref); err != nil {
		return nil, err
	}
	reg, n, ok := c.Lookup(ref)
	if !ok {
		return []PullSource{{Reference: ref}}, nil
	}
	if reg.Blocked {
		return nil, fmt.Errorf("%w: %s (prefix %q in %s)", ErrBlocked, ref, reg.Prefix, reg.File)
	}
	byDigest := ref.Digest != ""
	var out []PullSource
	for _, m := range reg.Mirrors {
		mode := m.PullFromMirror
		if reg.MirrorByDigestOnly {
			mode = PullFromMirrorDigestOnly
		}
		if !anyKind && ((mode == PullFromMirrorDigestOnly && !byDigest) || (mode == PullFromMirrorTagOnly && byDigest)) {
			continue
		}
		r, err := rewrite(ref, n, m.Location)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: mirror %q: %w", ErrInvalidConfig, reg.File, m.Location, err)
		}
		out = append(out, PullSource{Reference: r, Insecure: m.Insecure, Mirror: true})
	}
	origin := ref
	if reg.Location != "" {
		r, err := rewrite(ref, n, reg.Location)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: location %q: %w", ErrInvalidConfig, reg.File, reg.Location, err)
		}
		origin = r
	}
	return append(out, PullSource{Reference: origin, Insecure: reg.Insecure}), nil
}

// rewrite replaces the first n bytes of ref's string form by location.
func rewrite(ref Reference, n int, location string) (Reference, error) {
	s := location + ref.String()[n:]
	host, rest, _ := strings.Cut(s, "/")
	// Parse without Docker Hub normalisation of the new host part.
	r, err := ParseReference("x.invalid/" + rest)
	if err != nil {
		return Reference{}, err
	}
	r.Registry = canonicalRegistryRef(host)
	if r.Registry == DockerHub && !strings.Contains(r.Repository, "/") {
		r.Repository = "library/" + r.Repository
	}
	return r, r.Validate()
}

func canonicalRegistryRef(host string) string {
	if host == dockerHubLegacy {
		return DockerHub
	}
	return host
}

// Insecure reports whether registries.conf marks ref's registry insecure.
func (c *RegistriesConf) Insecure(ref Reference) bool {
	reg, _, ok := c.Lookup(ref)
	return ok && reg.Insecure
}
