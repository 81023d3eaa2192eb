package release

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// redHatReleaseKeys is Red Hat's public release-signing keyring (release key
// 2 and beta key 2), the keys oc-mirror v2 verifies release signatures with
// by default. Origin and fingerprints: keys/README.md.
//
//go:embed keys/redhat-release-keys.asc
var redHatReleaseKeys []byte

// DefaultKeyFingerprints are the fingerprints (hex, upper case) of the keys
// in [DefaultKeyring]: Red Hat's release key 2 and beta key 2.
var DefaultKeyFingerprints = []string{
	"567E347AD0044ADE55BA8A5F199E2F91FD431D51",
	"B08B659EE86AF623BC90E8DB938A80CAF21541EB",
}

// DefaultKeyringName names the default keyring in messages.
const DefaultKeyringName = "Red Hat's release keys (built in)"

var defaultKeyring = sync.OnceValues(func() (openpgp.EntityList, error) {
	return ParseArmoredKeyring(bytes.NewReader(redHatReleaseKeys))
})

// DefaultKeyring returns Red Hat's public release-signing keys, shipped with
// enclave: the keyring [VerifierFromEnv] uses when no other key is named,
// as oc-mirror does.
func DefaultKeyring() (openpgp.EntityList, error) {
	el, err := defaultKeyring()
	if err != nil {
		return nil, fmt.Errorf("release: built-in keyring: %w", err)
	}
	return el, nil
}

// DefaultKeyringArmored returns the armored default keyring, for users who
// want to see or export it.
func DefaultKeyringArmored() []byte { return bytes.Clone(redHatReleaseKeys) }
