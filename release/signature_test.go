package release_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
	"github.com/opencontainers/go-digest"
)

func newKey(t *testing.T, name string) *releasetest.Key {
	t.Helper()
	k, err := releasetest.NewKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newVerifier(t *testing.T, k *releasetest.Key) *release.Verifier {
	t.Helper()
	kr, err := k.PublicKeyring()
	if err != nil {
		t.Fatal(err)
	}
	v, err := release.NewVerifier(kr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t *testing.T, k *releasetest.Key, body []byte, compress bool) []byte {
	t.Helper()
	s, err := k.Sign(body, compress)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	key := newKey(t, "release key")
	other := newKey(t, "someone else")
	v := newVerifier(t, key)
	payload := digest.Digest(d1)
	ref := "quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64"
	good := releasetest.AtomicSignatureJSON(ref, payload)

	for _, compress := range []bool{false, true} {
		info, err := v.Verify(sign(t, key, good, compress), payload)
		if err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		if info.KeyID != key.KeyID() || info.DockerReference != ref || info.Digest != payload || info.Optional["creator"] != "releasetest" {
			t.Fatalf("info = %+v", info)
		}
		if time.Since(info.Created) > time.Minute {
			t.Fatalf("created %v", info.Created)
		}
	}

	tampered := sign(t, key, good, false)
	i := strings.Index(string(tampered), "ocp-release")
	tampered[i] = 'X' // inside the literal data: the hash no longer matches

	tests := []struct {
		name    string
		sig     []byte
		want    string
		payload digest.Digest
	}{
		{"other key", sign(t, other, good, true), "signed by key " + other.KeyID() + ", which is not in the keyring", payload},
		{"tampered body", tampered, "signature by key " + key.KeyID() + " does not verify", payload},
		{"other digest", sign(t, key, good, true), "signed \"" + d1 + "\", not the payload " + d2, d2},
		{"wrong type", sign(t, key, []byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"`+d1+`"},"identity":{"docker-reference":"x"}}}`), false), "critical.type", payload},
		{"no type", sign(t, key, []byte(`{"critical":{"image":{"docker-manifest-digest":"`+d1+`"}}}`), false), "critical.type", payload},
		{"unknown critical field", sign(t, key, []byte(`{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"`+d1+`"},"identity":{"docker-reference":"x"},"expires":1}}`), false), "unknown critical field \"expires\"", payload},
		{"not json", sign(t, key, []byte("hello"), false), "not JSON", payload},
		{"garbage", []byte("not openpgp at all"), "not an OpenPGP message", payload},
		{"body too large", sign(t, key, []byte(strings.Repeat(" ", release.MaxSignatureBodyBytes+1)), false), "signed body over", payload},
		{"compressed body too large", sign(t, key, []byte(strings.Repeat(" ", release.MaxSignatureBodyBytes+1)), true), "decompressed message size exceeds", payload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.sig, tt.payload)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, release.ErrSignature) && !errors.Is(err, release.ErrTooLarge) {
				t.Fatalf("error %v is neither ErrSignature nor ErrTooLarge", err)
			}
		})
	}
}

func TestSignatureClient(t *testing.T) {
	key := newKey(t, "release key")
	p1, p2 := digest.Digest(d1), digest.Digest(d2)
	s1, _ := key.SignRelease("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", p1)
	s2, _ := key.SignRelease("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", p1)
	srv := releasetest.NewSignatureServer(map[digest.Digest][][]byte{p1: {s1, s2}})
	defer srv.Close()
	ctx := context.Background()
	c, err := release.NewSignatureClient(release.WithSignatureURL(srv.URL), release.WithSignatureGetenv(noEnv), release.WithSignatureRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := c.Fetch(ctx, p1)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || string(sigs[0]) != string(s1) || string(sigs[1]) != string(s2) {
		t.Fatalf("got %d signatures", len(sigs))
	}
	if srv.Hits() != 3 { // signature-1, -2, then the 404 of -3
		t.Fatalf("%d requests, want 3", srv.Hits())
	}
	if _, err := c.Fetch(ctx, p2); !errors.Is(err, release.ErrNoSignature) {
		t.Fatalf("error = %v, want ErrNoSignature", err)
	}

	capped, _ := release.NewSignatureClient(release.WithSignatureURL(srv.URL+"/"), release.WithMaxSignatures(1))
	if sigs, err := capped.Fetch(ctx, p1); err != nil || len(sigs) != 1 {
		t.Fatalf("capped: %d, %v", len(sigs), err)
	}

	env, _ := release.NewSignatureClient(release.WithSignatureGetenv(func(k string) string {
		if k == release.EnvSignatureURL {
			return "https://sigs.internal/release"
		}
		return ""
	}))
	if env.URL() != "https://sigs.internal/release/" {
		t.Fatalf("env URL = %s", env.URL())
	}
	def, _ := release.NewSignatureClient(release.WithSignatureGetenv(noEnv))
	if def.URL() != release.DefaultSignatureURL {
		t.Fatalf("default URL = %s", def.URL())
	}

	dead, _ := release.NewSignatureClient(release.WithSignatureURL("http://127.0.0.1:1/"), release.WithSignatureRetries(1, 0))
	if _, err := dead.Fetch(ctx, p1); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("error = %v", err)
	}
}

func TestVerifierFromEnv(t *testing.T) {
	key := newKey(t, "release key")
	pub, err := key.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(path, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == release.EnvSignatureKey {
			return path
		}
		return ""
	}
	v, err := release.VerifierFromEnv("", env)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := key.SignRelease("x", d1)
	if _, err := v.Verify(sig, d1); err != nil {
		t.Fatal(err)
	}
	if v.Source() != path {
		t.Errorf("Source() = %q, want %s", v.Source(), path)
	}
	// --release-key wins over the environment.
	other := newKey(t, "other key")
	otherPub, _ := other.ArmoredPublicKey()
	otherPath := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(otherPath, otherPub, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err = release.VerifierFromEnv(otherPath, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sig, d1); !errors.Is(err, release.ErrSignature) {
		t.Fatalf("a signature by the environment's key verified against --release-key: %v", err)
	}
	// With neither: Red Hat's release keys, which refuse a signature made
	// with any other key.
	v, err = release.VerifierFromEnv("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if v.Source() != release.DefaultKeyringName {
		t.Errorf("Source() = %q", v.Source())
	}
	if _, err := v.Verify(sig, d1); !errors.Is(err, release.ErrSignature) || !strings.Contains(err.Error(), "signed by key "+key.KeyID()+", which is not in the keyring") {
		t.Fatalf("default keyring: error = %v", err)
	}
	if _, err := release.VerifierFromEnv(filepath.Join(t.TempDir(), "missing"), noEnv); err == nil {
		t.Fatal("missing key file accepted")
	}
}

func TestSignatureConfigMapYAML(t *testing.T) {
	hex1 := strings.TrimPrefix(d1, "sha256:")
	hex2 := strings.TrimPrefix(d2, "sha256:")
	got, err := release.SignatureConfigMapYAML("", []release.ReleaseSignature{
		{Digest: d2, Index: 1, Data: []byte("sig-b1")},
		{Digest: d1, Index: 2, Data: []byte("sig-a2")},
		{Digest: d1, Index: 1, Data: []byte("sig-a1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	want := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: mirrored-release-signatures
  namespace: openshift-config-managed
  labels:
    release.openshift.io/verification-signatures: ""
binaryData:
  sha256-%s-1: %s
  sha256-%s-2: %s
  sha256-%s-1: %s
`, hex1, b64([]byte("sig-a1")), hex1, b64([]byte("sig-a2")), hex2, b64([]byte("sig-b1")))
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	for name, sigs := range map[string][]release.ReleaseSignature{
		"duplicate":  {{Digest: d1, Index: 1, Data: []byte("a")}, {Digest: d1, Index: 1, Data: []byte("b")}},
		"index 0":    {{Digest: d1, Index: 0, Data: []byte("a")}},
		"bad digest": {{Digest: "sha256:../../x", Index: 1, Data: []byte("a")}},
		"none":       nil,
	} {
		if _, err := release.SignatureConfigMapYAML("", sigs); !errors.Is(err, release.ErrInvalidArgument) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	big := make([]release.ReleaseSignature, 0, 2000)
	for i := range 2000 {
		big = append(big, release.ReleaseSignature{Digest: digest.FromString(fmt.Sprint(i)), Index: 1, Data: make([]byte, 600)})
	}
	if _, err := release.SignatureConfigMapYAML("", big); !errors.Is(err, release.ErrTooLarge) {
		t.Fatalf("error = %v, want ErrTooLarge", err)
	}
}

// TestDefaultKeyring pins the embedded keyring to the fingerprints
// keys/README.md documents: Red Hat's release key 2 and beta key 2.
func TestDefaultKeyring(t *testing.T) {
	el, err := release.DefaultKeyring()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range el {
		got = append(got, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	if strings.Join(got, " ") != strings.Join(release.DefaultKeyFingerprints, " ") {
		t.Fatalf("fingerprints = %v, want %v", got, release.DefaultKeyFingerprints)
	}
	for _, e := range el {
		for name := range e.Identities {
			if !strings.Contains(name, "Red Hat, Inc.") {
				t.Errorf("identity %q", name)
			}
		}
	}
	if !bytes.HasPrefix(release.DefaultKeyringArmored(), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Error("armored keyring")
	}
}
