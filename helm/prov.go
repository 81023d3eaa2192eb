package helm

import (
	"bytes"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"go.yaml.in/yaml/v3"
)

// ReadKeyring reads an OpenPGP public keyring, binary (gpg's pubring.gpg,
// what helm --keyring takes) or ASCII-armored. Errors wrap [ErrInvalid].
func ReadKeyring(data []byte) (openpgp.EntityList, error) {
	var el openpgp.EntityList
	var err error
	if bytes.Contains(data[:min(len(data), 1024)], []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: keyring: %v", ErrInvalid, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("%w: keyring holds no key", ErrInvalid)
	}
	return el, nil
}

// VerifyProvenance checks c's provenance file as helm verify does: it must
// be a clearsigned message signed by a key of keyring, whose files section
// gives the sha256 of c's archive. It returns the signer. Errors wrap
// [ErrProvenance].
func VerifyProvenance(c *Chart, keyring openpgp.EntityList) (*openpgp.Entity, error) {
	what := fmt.Sprintf("chart %s %s (%s)", c.Name, c.Version, c.Source)
	if c.Provenance == nil {
		return nil, fmt.Errorf("%w: %s has no provenance file (.prov); it cannot be verified", ErrProvenance, what)
	}
	block, _ := clearsign.Decode(c.Provenance)
	if block == nil {
		return nil, fmt.Errorf("%w: %s: the provenance file is not a clearsigned message", ErrProvenance, what)
	}
	signer, err := block.VerifySignature(keyring, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: signature: %v (is the signer's public key in the keyring?)", ErrProvenance, what, err)
	}
	// The signed text is the chart's Chart.yaml, "...", then a YAML
	// document with the archive digests.
	parts := bytes.SplitN(block.Plaintext, []byte("\n...\n"), 2)
	if len(parts) != 2 {
		return nil, fmt.Errorf("%w: %s: the provenance file has no files section", ErrProvenance, what)
	}
	var sums struct {
		Files map[string]string `yaml:"files"`
	}
	if err := yaml.Unmarshal(parts[1], &sums); err != nil {
		return nil, fmt.Errorf("%w: %s: files section: %v", ErrProvenance, what, err)
	}
	want := c.Digest().String()
	for _, sum := range sums.Files {
		if sum == want {
			return signer, nil
		}
	}
	return nil, fmt.Errorf("%w: %s: the signed files section does not list the archive's digest %s", ErrProvenance, what, want)
}
