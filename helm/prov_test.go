package helm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func newKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test only", name+"@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// provFor writes a provenance file as helm package --sign does: the
// chart's Chart.yaml, "...", and the archive's sha256, clearsigned.
func provFor(t *testing.T, c *Chart, key *openpgp.Entity, sum string) []byte {
	t.Helper()
	meta, err := c.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("apiVersion: %s\nname: %s\nversion: %s\n\n...\nfiles:\n  %s: %s\n", meta.APIVersion, meta.Name, meta.Version, ArchiveName(c), sum)
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// publicKeyring returns the public key as a binary keyring (what helm
// --keyring reads) and armored.
func publicKeyring(t *testing.T, key *openpgp.Entity) (binary, armored []byte) {
	t.Helper()
	var bin, arm bytes.Buffer
	if err := key.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	w, err := armor.Encode(&arm, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return bin.Bytes(), arm.Bytes()
}

func TestVerifyProvenance(t *testing.T) {
	key, other := newKey(t, "signer"), newKey(t, "other")
	c := fixture(t, "podinfo-5.0.0.tgz")
	bin, arm := publicKeyring(t, key)
	for _, kr := range [][]byte{bin, arm} {
		el, err := ReadKeyring(kr)
		if err != nil {
			t.Fatal(err)
		}
		c.Provenance = provFor(t, c, key, c.Digest().String())
		signer, err := VerifyProvenance(c, el)
		if err != nil || signer.PrimaryKey.KeyId != key.PrimaryKey.KeyId {
			t.Fatalf("good provenance: %v", err)
		}
	}
	el, _ := ReadKeyring(bin)
	otherBin, _ := publicKeyring(t, other)
	otherEl, _ := ReadKeyring(otherBin)
	tampered := provFor(t, c, key, c.Digest().String())
	tampered = bytes.Replace(tampered, []byte("name: podinfo"), []byte("name: podinfX"), 1)
	for name, tt := range map[string]struct {
		prov    []byte
		keyring openpgp.EntityList
	}{
		"missing":       {nil, el},
		"unknown key":   {provFor(t, c, key, c.Digest().String()), otherEl},
		"other digest":  {provFor(t, c, key, "sha256:0000000000000000000000000000000000000000000000000000000000000000"), el},
		"tampered text": {tampered, el},
		"not signed":    {[]byte("files:\n  x: y\n"), el},
	} {
		c.Provenance = tt.prov
		if _, err := VerifyProvenance(c, tt.keyring); !errors.Is(err, ErrProvenance) || !bytes.Contains([]byte(err.Error()), []byte("podinfo 5.0.0")) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadKeyring([]byte("junk")); !errors.Is(err, ErrInvalid) {
		t.Errorf("junk keyring: %v", err)
	}
}
