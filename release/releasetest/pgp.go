package releasetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/opencontainers/go-digest"
)

// Key is an OpenPGP key pair generated for a test (Ed25519: fast to make).
type Key struct {
	Entity *openpgp.Entity
}

// NewKey generates a key with the given user name.
func NewKey(name string) (*Key, error) {
	e, err := openpgp.NewEntity(name, "test only", "test@example.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		return nil, fmt.Errorf("releasetest: generate key: %w", err)
	}
	return &Key{Entity: e}, nil
}

// KeyID is the primary key id in 16 upper-case hex digits (as
// release.SignatureInfo.KeyID prints it).
func (k *Key) KeyID() string { return fmt.Sprintf("%016X", k.Entity.PrimaryKey.KeyId) }

// ArmoredPublicKey returns the public key, ASCII-armored (the form
// OCP_SIGNATURE_VERIFICATION_PK names).
func (k *Key) ArmoredPublicKey() ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.Entity.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// PublicKeyring returns a keyring holding only the public key.
func (k *Key) PublicKeyring() (openpgp.EntityList, error) {
	a, err := k.ArmoredPublicKey()
	if err != nil {
		return nil, err
	}
	return openpgp.ReadArmoredKeyRing(bytes.NewReader(a))
}

// AtomicSignatureJSON is the body of a release signature.
func AtomicSignatureJSON(dockerReference string, d digest.Digest) []byte {
	body := map[string]any{
		"critical": map[string]any{
			"type":     "atomic container signature",
			"image":    map[string]string{"docker-manifest-digest": d.String()},
			"identity": map[string]string{"docker-reference": dockerReference},
		},
		"optional": map[string]any{"creator": "releasetest", "timestamp": 1700000000},
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return data
}

// Sign returns a binary OpenPGP signed message with body, compressed
// (zlib, like gpg --sign) when compress is set.
func (k *Key) Sign(body []byte, compress bool) ([]byte, error) {
	var out bytes.Buffer
	var w io.Writer = &out
	var zc io.WriteCloser
	if compress {
		var err error
		if zc, err = packet.SerializeCompressed(nopCloser{&out}, packet.CompressionZLIB, nil); err != nil {
			return nil, err
		}
		w = zc
	}
	sw, err := openpgp.Sign(w, k.Entity, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("releasetest: sign: %w", err)
	}
	if _, err := sw.Write(body); err != nil {
		return nil, err
	}
	if err := sw.Close(); err != nil {
		return nil, err
	}
	if zc != nil {
		if err := zc.Close(); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

// SignRelease signs the atomic signature JSON for a payload.
func (k *Key) SignRelease(dockerReference string, d digest.Digest) ([]byte, error) {
	return k.Sign(AtomicSignatureJSON(dockerReference, d), true)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
