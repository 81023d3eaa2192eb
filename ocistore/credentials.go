package ocistore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// Limits on what credential sources may make us read.
const (
	// maxAuthFileSize bounds an auth file; real ones are a few KiB.
	maxAuthFileSize = 4 << 20
	// maxHelperOutput bounds what a credential helper may print.
	maxHelperOutput = 1 << 20
)

// Credential is a secret for one registry. Its String, GoString and Format
// methods never print Password, IdentityToken or RegistryToken.
type Credential struct {
	Username string
	Password string
	// IdentityToken is an OAuth2 refresh token (auth.json "identitytoken",
	// or a helper answering with Username "<token>").
	IdentityToken string
	// RegistryToken is a bearer access token sent as is.
	RegistryToken string
}

// Empty reports whether c carries nothing.
func (c Credential) Empty() bool { return c == Credential{} }

// String describes c without its secrets.
func (c Credential) String() string {
	var parts []string
	if c.Username != "" {
		parts = append(parts, "Username:"+c.Username)
	}
	if c.Password != "" {
		parts = append(parts, "Password:<redacted>")
	}
	if c.IdentityToken != "" {
		parts = append(parts, "IdentityToken:<redacted>")
	}
	if c.RegistryToken != "" {
		parts = append(parts, "RegistryToken:<redacted>")
	}
	return "ocistore.Credential{" + strings.Join(parts, " ") + "}"
}

// GoString is String, so %#v redacts too.
func (c Credential) GoString() string { return c.String() }

// Format prints String for every verb, so no verb or flag reveals a secret.
func (c Credential) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

func (c Credential) oras() auth.Credential {
	return auth.Credential{Username: c.Username, Password: c.Password, RefreshToken: c.IdentityToken, AccessToken: c.RegistryToken}
}

// authFileEntry is one "auths" value of an auth file.
type authFileEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// authFile is a parsed docker config.json or containers auth.json.
type authFile struct {
	path        string
	auths       map[string]Credential // key normalised: host[/repo/path]
	credHelpers map[string]string     // host -> helper name
	credsStore  string
}

// Keychain finds credentials in docker and podman auth files and credential
// helpers. It is safe for concurrent use. Printing a Keychain shows only the
// files it read.
type Keychain struct {
	files []*authFile

	mu      sync.Mutex
	helpers map[string]Credential // helper + "\x00" + server -> answer
}

// String lists the files the keychain read, never their content.
func (k *Keychain) String() string {
	if k == nil {
		return "ocistore.Keychain(nil)"
	}
	paths := make([]string, len(k.files))
	for i, f := range k.files {
		paths[i] = f.path
	}
	return fmt.Sprintf("ocistore.Keychain%q", paths)
}

// GoString is String.
func (k *Keychain) GoString() string { return k.String() }

// Format prints String for every verb.
func (k *Keychain) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// AuthFilePaths returns the auth files consulted, in order, for the given
// explicit path (the --authfile flag, may be empty): explicit,
// $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
// $XDG_CONFIG_HOME (or $HOME/.config)/containers/auth.json, and
// $DOCKER_CONFIG/config.json (or $HOME/.docker/config.json). Duplicates are
// removed.
func AuthFilePaths(explicit string) []string {
	var paths []string
	add := func(p string) {
		if p == "" {
			return
		}
		for _, q := range paths {
			if q == p {
				return
			}
		}
		paths = append(paths, p)
	}
	add(explicit)
	add(os.Getenv("REGISTRY_AUTH_FILE"))
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		add(filepath.Join(d, "containers", "auth.json"))
	}
	home, _ := os.UserHomeDir()
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		add(filepath.Join(d, "containers", "auth.json"))
	} else if home != "" {
		add(filepath.Join(home, ".config", "containers", "auth.json"))
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		add(filepath.Join(d, "config.json"))
	} else if home != "" {
		add(filepath.Join(home, ".docker", "config.json"))
	}
	return paths
}

// LoadKeychain reads the auth files named by AuthFilePaths(explicit). Files
// that do not exist are skipped, except the explicit one. A file that exists
// but cannot be parsed is an error naming it (wrapping ErrInvalidConfig),
// never silently ignored.
func LoadKeychain(explicit string) (*Keychain, error) {
	k := &Keychain{helpers: map[string]Credential{}}
	for _, p := range AuthFilePaths(explicit) {
		f, err := readAuthFile(p)
		if errors.Is(err, fs.ErrNotExist) && p != explicit {
			continue
		}
		if err != nil {
			return nil, err
		}
		k.files = append(k.files, f)
	}
	return k, nil
}

func readAuthFile(path string) (*authFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ocistore: auth file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxAuthFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("ocistore: auth file %s: %w", path, err)
	}
	if len(data) > maxAuthFileSize {
		return nil, fmt.Errorf("%w: auth file %s is larger than %d bytes", ErrInvalidConfig, path, maxAuthFileSize)
	}
	var raw struct {
		Auths       map[string]authFileEntry `json:"auths"`
		CredHelpers map[string]string        `json:"credHelpers"`
		CredsStore  string                   `json:"credsStore"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &raw); err != nil {
			// Do not quote the content: it holds secrets. json errors
			// carry offsets only.
			return nil, fmt.Errorf("%w: auth file %s: %w", ErrInvalidConfig, path, redactJSONError(err))
		}
	}
	f := &authFile{path: path, auths: map[string]Credential{}, credHelpers: map[string]string{}, credsStore: raw.CredsStore}
	if f.credsStore != "" && !helperNameRE.MatchString(f.credsStore) {
		return nil, fmt.Errorf("%w: auth file %s: credsStore %q is not a valid helper name", ErrInvalidConfig, path, f.credsStore)
	}
	for key, e := range raw.Auths {
		c := Credential{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("%w: auth file %s: entry %q: \"auth\" is not base64", ErrInvalidConfig, path, key)
			}
			user, pass, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, fmt.Errorf("%w: auth file %s: entry %q: \"auth\" is not user:password", ErrInvalidConfig, path, key)
			}
			c.Username, c.Password = user, pass
		}
		if c.Empty() {
			continue // docker writes {} entries when a credsStore holds the secret
		}
		f.auths[normaliseAuthKey(key)] = c
	}
	for host, name := range raw.CredHelpers {
		if !helperNameRE.MatchString(name) {
			return nil, fmt.Errorf("%w: auth file %s: credHelpers[%q] = %q is not a valid helper name", ErrInvalidConfig, path, host, name)
		}
		f.credHelpers[normaliseAuthKey(host)] = name
	}
	return f, nil
}

// redactJSONError keeps the kind and offset of a JSON error, not the text
// around it.
func redactJSONError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("JSON syntax error at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("JSON field %q has the wrong type", typ.Field)
	}
	return errors.New("invalid JSON")
}

var helperNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// normaliseAuthKey turns "https://host/v1/", "http://host", "host/ns/repo"
// into host[/path] with Docker Hub's aliases folded into docker.io.
func normaliseAuthKey(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, path, _ := strings.Cut(key, "/")
	if path == "v1" || path == "v1/" || path == "v2" || path == "v2/" {
		path = ""
	}
	path = strings.TrimSuffix(path, "/")
	host = canonicalRegistry(host)
	if path == "" {
		return host
	}
	return host + "/" + path
}

// canonicalRegistry folds Docker Hub's host names into docker.io.
func canonicalRegistry(host string) string {
	switch strings.ToLower(host) {
	case dockerHubLegacy, dockerHubAPI, DockerHub:
		return DockerHub
	}
	return host
}

// Get returns the credential for repository (may be empty) on registry.
// Files are consulted in order; within a file: credHelpers for the
// registry, then "auths" (most specific repository-scoped key first, then
// the registry), then credsStore. No credential is not an error: the result
// is then empty.
func (k *Keychain) Get(ctx context.Context, registry, repository string) (Credential, error) {
	if k == nil {
		return Credential{}, nil
	}
	host := canonicalRegistry(registry)
	for _, f := range k.files {
		if name, ok := f.credHelpers[host]; ok {
			return k.runHelper(ctx, name, host)
		}
		path := repository
		for {
			key := host
			if path != "" {
				key += "/" + path
			}
			if c, ok := f.auths[key]; ok {
				return c, nil
			}
			if path == "" {
				break
			}
			i := strings.LastIndexByte(path, '/')
			if i < 0 {
				path = ""
			} else {
				path = path[:i]
			}
		}
		if f.credsStore != "" {
			c, err := k.runHelper(ctx, f.credsStore, host)
			if err != nil || !c.Empty() {
				return c, err
			}
		}
	}
	return Credential{}, nil
}

// CredentialFunc returns the function oras-go's auth.Client calls, bound to
// one repository so that podman's repository-scoped entries apply.
func (k *Keychain) CredentialFunc(repository string) auth.CredentialFunc {
	return func(ctx context.Context, hostport string) (auth.Credential, error) {
		c, err := k.Get(ctx, hostport, repository)
		if err != nil {
			return auth.EmptyCredential, err
		}
		return c.oras(), nil
	}
}

// helperServerURL is what helpers are asked for: docker stores Docker Hub
// under its legacy URL.
func helperServerURL(host string) string {
	if host == DockerHub {
		return "https://index.docker.io/v1/"
	}
	return host
}

// runHelper executes docker-credential-<name> get, per the
// docker-credential-helpers protocol: the server URL on stdin, JSON
// {"Username","Secret"} on stdout. "credentials not found" is an empty
// credential. Answers are cached for the life of the Keychain.
func (k *Keychain) runHelper(ctx context.Context, name, host string) (Credential, error) {
	server := helperServerURL(host)
	key := name + "\x00" + server
	k.mu.Lock()
	c, ok := k.helpers[key]
	k.mu.Unlock()
	if ok {
		return c, nil
	}
	prog := "docker-credential-" + name
	cmd := exec.CommandContext(ctx, prog, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxHelperOutput, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		out := stdout.String() + stderr.String()
		if strings.Contains(out, "credentials not found") {
			c = Credential{}
		} else {
			// Never include the helper's output: it may hold a secret.
			return Credential{}, fmt.Errorf("%w: %s get for %s: %w", ErrCredentialHelper, prog, server, err)
		}
	} else {
		if stdout.overflow {
			return Credential{}, fmt.Errorf("%w: %s printed more than %d bytes", ErrCredentialHelper, prog, maxHelperOutput)
		}
		var ans struct {
			Username string `json:"Username"`
			Secret   string `json:"Secret"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &ans); err != nil {
			return Credential{}, fmt.Errorf("%w: %s get for %s: %w", ErrCredentialHelper, prog, server, redactJSONError(err))
		}
		if ans.Username == "<token>" {
			c = Credential{IdentityToken: ans.Secret}
		} else {
			c = Credential{Username: ans.Username, Password: ans.Secret}
		}
	}
	k.mu.Lock()
	k.helpers[key] = c
	k.mu.Unlock()
	return c, nil
}

// limitedBuffer keeps at most max bytes and notes if there were more.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
