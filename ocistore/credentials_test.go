package ocistore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// isolateEnv points every credential and configuration location at an empty
// temporary home.
func isolateEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "CONTAINERS_REGISTRIES_CONF"} {
		t.Setenv(k, "")
	}
	return home
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestKeychainAuthsKeys(t *testing.T) {
	home := isolateEnv(t)
	writeFile(t, filepath.Join(home, ".docker", "config.json"), `{"auths": {
		"https://index.docker.io/v1/": {"auth": "`+b64("hub:hubpw")+`"},
		"https://plain.example.com": {"auth": "`+b64("plain:plainpw")+`"},
		"v1.example.com/v1/": {"username": "v1user", "password": "v1pw"},
		"quay.io": {"auth": "`+b64("q:qpw")+`"},
		"quay.io/org": {"auth": "`+b64("org:orgpw")+`"},
		"quay.io/org/app": {"auth": "`+b64("app:apppw")+`"},
		"tok.example.com": {"identitytoken": "refresh-secret"},
		"store.example.com": {}
	}}`)
	k, err := LoadKeychain("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, registry, repo string
		want                 Credential
	}{
		{name: "docker hub legacy key", registry: "docker.io", repo: "library/alpine", want: Credential{Username: "hub", Password: "hubpw"}},
		{name: "docker hub api host", registry: "registry-1.docker.io", want: Credential{Username: "hub", Password: "hubpw"}},
		{name: "https key", registry: "plain.example.com", want: Credential{Username: "plain", Password: "plainpw"}},
		{name: "v1 suffix", registry: "v1.example.com", want: Credential{Username: "v1user", Password: "v1pw"}},
		{name: "most specific repo", registry: "quay.io", repo: "org/app", want: Credential{Username: "app", Password: "apppw"}},
		{name: "namespace", registry: "quay.io", repo: "org/other", want: Credential{Username: "org", Password: "orgpw"}},
		{name: "host", registry: "quay.io", repo: "elsewhere/x", want: Credential{Username: "q", Password: "qpw"}},
		{name: "not a path prefix", registry: "quay.io", repo: "organic/x", want: Credential{Username: "q", Password: "qpw"}},
		{name: "identity token", registry: "tok.example.com", want: Credential{IdentityToken: "refresh-secret"}},
		{name: "empty entry", registry: "store.example.com"},
		{name: "unknown", registry: "nowhere.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Get(context.Background(), tt.registry, tt.repo)
			if err != nil || got != tt.want {
				t.Fatalf("Get(%s, %s) = %v, %v; want %v", tt.registry, tt.repo, got, err, tt.want)
			}
		})
	}
}

func TestKeychainFileOrder(t *testing.T) {
	home := isolateEnv(t)
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	entry := func(u string) string { return `{"auths":{"r.example.com":{"auth":"` + b64(u+":pw") + `"}}}` }
	explicit := writeFile(t, filepath.Join(t.TempDir(), "explicit.json"), entry("explicit"))
	envFile := writeFile(t, filepath.Join(t.TempDir(), "env.json"), entry("env"))
	writeFile(t, filepath.Join(run, "containers", "auth.json"), entry("xdgrun"))
	writeFile(t, filepath.Join(home, ".config", "containers", "auth.json"), entry("config"))
	writeFile(t, filepath.Join(home, ".docker", "config.json"), entry("docker"))
	dockerDir := t.TempDir()
	writeFile(t, filepath.Join(dockerDir, "config.json"), entry("dockerconfig"))

	get := func(explicitPath string) string {
		t.Helper()
		k, err := LoadKeychain(explicitPath)
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Get(context.Background(), "r.example.com", "a/b")
		if err != nil {
			t.Fatal(err)
		}
		return c.Username
	}
	t.Setenv("REGISTRY_AUTH_FILE", envFile)
	if got := get(explicit); got != "explicit" {
		t.Errorf("with --authfile: %q", got)
	}
	if got := get(""); got != "env" {
		t.Errorf("with REGISTRY_AUTH_FILE: %q", got)
	}
	t.Setenv("REGISTRY_AUTH_FILE", "")
	if got := get(""); got != "xdgrun" {
		t.Errorf("XDG_RUNTIME_DIR: %q", got)
	}
	os.Remove(filepath.Join(run, "containers", "auth.json"))
	if got := get(""); got != "config" {
		t.Errorf("~/.config/containers: %q", got)
	}
	os.Remove(filepath.Join(home, ".config", "containers", "auth.json"))
	if got := get(""); got != "docker" {
		t.Errorf("~/.docker: %q", got)
	}
	t.Setenv("DOCKER_CONFIG", dockerDir)
	if got := get(""); got != "dockerconfig" {
		t.Errorf("DOCKER_CONFIG: %q", got)
	}

	if _, err := LoadKeychain(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing explicit auth file: %v", err)
	}
}

func TestKeychainBadFiles(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{name: "syntax", content: `{"auths": {"r.io": {"auth": "` + b64("u:topsecret") + `"`},
		{name: "not base64", content: `{"auths": {"r.io": {"auth": "topsecret!!"}}}`},
		{name: "no colon", content: `{"auths": {"r.io": {"auth": "` + b64("topsecret") + `"}}}`},
		{name: "helper path", content: `{"credHelpers": {"r.io": "../../bin/sh"}}`},
		{name: "wrong type", content: `{"auths": {"r.io": {"auth": 5}}, "x": "topsecret"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			path := writeFile(t, filepath.Join(t.TempDir(), "auth.json"), tt.content)
			_, err := LoadKeychain(path)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
}

// installHelper puts docker-credential-<name> on PATH: a shell script that
// answers for helper.example.com and Docker Hub, and logs each call.
func installHelper(t *testing.T, name string) (logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls.log")
	script := `#!/bin/sh
[ "$1" = get ] || { echo "unsupported" >&2; exit 2; }
read -r server
echo "$server" >> '` + logFile + `'
case "$server" in
  helper.example.com) printf '{"ServerURL":"%s","Username":"helperuser","Secret":"helper-secret"}' "$server" ;;
  token.example.com) printf '{"ServerURL":"%s","Username":"<token>","Secret":"helper-refresh"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubhelper","Secret":"hub-secret"}' "$server" ;;
  broken.example.com) echo "boom helper-secret" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	writeFile(t, filepath.Join(dir, "docker-credential-"+name), script)
	if err := os.Chmod(filepath.Join(dir, "docker-credential-"+name), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return logFile
}

func TestKeychainCredentialHelpers(t *testing.T) {
	home := isolateEnv(t)
	logFile := installHelper(t, "enclavetest")
	writeFile(t, filepath.Join(home, ".docker", "config.json"), `{
		"auths": {"helper.example.com": {"auth": "`+b64("fileuser:filepw")+`"}, "other.example.com": {"auth": "`+b64("o:opw")+`"}},
		"credHelpers": {"helper.example.com": "enclavetest", "broken.example.com": "enclavetest", "missing.example.com": "enclavetest"},
		"credsStore": "enclavetest"
	}`)
	k, err := LoadKeychain("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name, registry string
		want           Credential
		wantErr        error
	}{
		{name: "credHelpers wins over auths", registry: "helper.example.com", want: Credential{Username: "helperuser", Password: "helper-secret"}},
		{name: "auths before credsStore", registry: "other.example.com", want: Credential{Username: "o", Password: "opw"}},
		{name: "credsStore token", registry: "token.example.com", want: Credential{IdentityToken: "helper-refresh"}},
		{name: "credsStore docker hub URL", registry: "docker.io", want: Credential{Username: "hubhelper", Password: "hub-secret"}},
		{name: "helper not found is empty", registry: "missing.example.com"},
		{name: "helper failure", registry: "broken.example.com", wantErr: ErrCredentialHelper},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Get(ctx, tt.registry, "ns/app")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || Classify(err) != KindAuth {
					t.Fatalf("err = %v (kind %v), want %v", err, Classify(err), tt.wantErr)
				}
				if strings.Contains(err.Error(), "helper-secret") {
					t.Errorf("error leaks helper output: %q", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Get(%s) = %v, %v; want %v", tt.registry, got, err, tt.want)
			}
		})
	}
	// Answers are cached: a second lookup does not run the helper again.
	if _, err := k.Get(ctx, "helper.example.com", "x"); err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(logFile)
	if n := strings.Count(string(log), "helper.example.com\n"); n != 1 {
		t.Errorf("helper ran %d times for helper.example.com, want 1", n)
	}
	// The oras credential function sees the same answer.
	c, err := k.CredentialFunc("ns/app")(ctx, "helper.example.com")
	if err != nil || c.Username != "helperuser" || c.Password != "helper-secret" {
		t.Fatalf("CredentialFunc: %v", err)
	}
}

func TestCredentialsNeverPrinted(t *testing.T) {
	home := isolateEnv(t)
	writeFile(t, filepath.Join(home, ".docker", "config.json"), `{"auths": {"r.example.com": {"auth": "`+b64("alice:pw-SECRET-1")+`", "identitytoken": "tok-SECRET-2"}}}`)
	k, err := LoadKeychain("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Get(context.Background(), "r.example.com", "")
	if err != nil || c.Password != "pw-SECRET-1" {
		t.Fatalf("Get = %v, %v", c, err)
	}
	c.RegistryToken = "bearer-SECRET-3"
	type wrapper struct {
		Cred  Credential
		Ptr   *Credential
		Chain *Keychain
	}
	values := []any{c, &c, k, wrapper{c, &c, k}, []Credential{c}, map[string]Credential{"x": c}}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T %[1]v"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "SECRET") || strings.Contains(out, b64("alice:pw-SECRET-1")) {
				t.Errorf("fmt.Sprintf(%q, %T) = %q leaks a secret", verb, v, out)
			}
		}
	}
	if s := fmt.Sprintf("%+v", c); !strings.Contains(s, "alice") || !strings.Contains(s, "redacted") {
		t.Errorf("%%+v = %q, want the user name and a redaction marker", s)
	}
}
