package archive

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// Signatures (spec/SIGNATURE.md). An archive is signed by a small statement
// that names its id, its archive digest (which commits to every volume and
// the manifest) and its lineage and sequence (which make a rollback
// detectable). The statement's bytes are signed with Ed25519 keys; the
// signatures and the statement live in SignatureFileName beside the volumes.

// SignatureMediaType identifies a signed statement.
const SignatureMediaType = "application/vnd.enclave.signature.v1+json"

// SignatureFileName is the name of the signature file in an archive's
// directory.
const SignatureFileName = "signature.json"

// Limits on what a signature file may make a reader read or hold.
const (
	// maxSignatureFileSize bounds signature.json: a statement of a few
	// hundred bytes and at most maxSignatures entries of about 150 bytes.
	maxSignatureFileSize = 1 << 20
	// maxStatementSize bounds the statement: its members are fixed-size but
	// for the digest algorithm and the decimal sequence.
	maxStatementSize = 4096
	// maxSignatures bounds the signature entries, so that a hostile file
	// cannot make a verifier do unbounded work.
	maxSignatures = 256
	// maxKeyFileSize bounds a PEM key file (an Ed25519 key is about 120
	// bytes of PEM; a keyring of public keys a few KiB).
	maxKeyFileSize = 1 << 20
)

// UntrustedKeyError is returned when no signature is by a trusted key.
type UntrustedKeyError struct {
	// KeyIDs are the key ids the archive is signed by, sorted.
	KeyIDs []string
}

func (e *UntrustedKeyError) Error() string {
	return fmt.Sprintf("archive: archive is signed only by keys that are not trusted: %s", strings.Join(e.KeyIDs, ", "))
}

// Unwrap makes errors.Is(err, ErrUntrustedKey) hold.
func (e *UntrustedKeyError) Unwrap() error { return ErrUntrustedKey }

// RollbackError is returned when an archive is older than, or as old as, one
// already applied from the same lineage.
type RollbackError struct {
	// Archive is the archive being checked.
	Archive AppliedArchive
	// Applied is the newest conflicting archive the receipt records.
	Applied AppliedArchive
}

func (e *RollbackError) Error() string {
	verb := "older than"
	if e.Applied.Sequence == e.Archive.Sequence {
		verb = "as old as"
	}
	return fmt.Sprintf("archive: rollback: archive %s is sequence %d of lineage %s, %s sequence %d (archive %s) applied to this destination on %s; pass --allow-rollback to apply it anyway",
		e.Archive.Archive, e.Archive.Sequence, e.Archive.Lineage, verb, e.Applied.Sequence, e.Applied.Archive, e.Applied.Applied.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrRollback) hold.
func (e *RollbackError) Unwrap() error { return ErrRollback }

// Statement is what a signature signs: which archive, by id and digest, and
// where it stands in its lineage.
type Statement struct {
	MediaType string
	// ArchiveID is the archive id, 32 lower-case hex digits.
	ArchiveID string
	// ArchiveDigest is the archive digest: sha256 of the index frame, equal
	// to the final footer's index hash.
	ArchiveDigest digest.Digest
	// Lineage (32 lower-case hex digits, or empty for an archive without
	// one) and Sequence are the manifest's.
	Lineage  string
	Sequence uint64
	// Created is when the statement was made, UTC, whole seconds.
	Created time.Time
}

// statementJSON fixes the member order of the canonical form.
type statementJSON struct {
	MediaType     string        `json:"mediaType"`
	ArchiveID     string        `json:"archiveID"`
	ArchiveDigest digest.Digest `json:"archiveDigest"`
	Lineage       string        `json:"lineage"`
	Sequence      uint64        `json:"sequence"`
	Created       string        `json:"created"`
}

// Encode returns the statement's canonical bytes: the members in the order
// of spec/SIGNATURE.md, no whitespace, no trailing newline, created in UTC
// RFC 3339 without fractional seconds.
func (s *Statement) Encode() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(statementJSON{MediaType: s.MediaType, ArchiveID: s.ArchiveID, ArchiveDigest: s.ArchiveDigest,
		Lineage: s.Lineage, Sequence: s.Sequence, Created: s.Created.UTC().Format(time.RFC3339)}); err != nil {
		return nil, fmt.Errorf("archive: encode statement: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (s *Statement) validate() error {
	if s.MediaType != SignatureMediaType {
		return fmt.Errorf("statement mediaType %q, want %q", s.MediaType, SignatureMediaType)
	}
	if _, err := format.ParseArchiveID(s.ArchiveID); err != nil {
		return fmt.Errorf("statement archiveID: %w", err)
	}
	if err := format.ValidateDigest(s.ArchiveDigest); err != nil || s.ArchiveDigest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("statement archiveDigest %q is not a sha256 digest", s.ArchiveDigest)
	}
	if s.Lineage != "" {
		if _, err := format.ParseArchiveID(s.Lineage); err != nil {
			return fmt.Errorf("statement lineage: %w", err)
		}
	}
	if !s.Created.Equal(s.Created.Truncate(time.Second)) {
		return errors.New("statement created has fractional seconds")
	}
	return nil
}

// DecodeStatement parses statement bytes and checks that they are in
// canonical form (so that every verifier reads the same values from the
// signed bytes: no duplicate or differently cased members, no whitespace).
func DecodeStatement(b []byte) (*Statement, error) {
	if len(b) > maxStatementSize {
		return nil, fmt.Errorf("%w: statement is %d bytes, above %d", ErrBadSignature, len(b), maxStatementSize)
	}
	var sj statementJSON
	if err := json.Unmarshal(b, &sj); err != nil {
		return nil, fmt.Errorf("%w: statement is not valid JSON: %v", ErrBadSignature, err)
	}
	created, err := time.Parse(time.RFC3339, sj.Created)
	if err != nil {
		return nil, fmt.Errorf("%w: statement created %q: %v", ErrBadSignature, sj.Created, err)
	}
	s := &Statement{MediaType: sj.MediaType, ArchiveID: sj.ArchiveID, ArchiveDigest: sj.ArchiveDigest,
		Lineage: sj.Lineage, Sequence: sj.Sequence, Created: created.UTC()}
	canon, err := s.Encode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("%w: statement is not in canonical form", ErrBadSignature)
	}
	return s, nil
}

// Match checks that the statement describes the archive with this id,
// digest, lineage and sequence; a difference is ErrBadSignature.
func (s *Statement) Match(id format.ArchiveID, d digest.Digest, lineage string, sequence uint64) error {
	var diffs []string
	if s.ArchiveID != id.String() {
		diffs = append(diffs, fmt.Sprintf("archive id %s, the archive's is %s", s.ArchiveID, id))
	}
	if s.ArchiveDigest != d {
		diffs = append(diffs, fmt.Sprintf("archive digest %s, the archive's is %s", s.ArchiveDigest, d))
	}
	if s.Lineage != lineage {
		diffs = append(diffs, fmt.Sprintf("lineage %q, the archive's is %q", s.Lineage, lineage))
	}
	if s.Sequence != sequence {
		diffs = append(diffs, fmt.Sprintf("sequence %d, the archive's is %d", s.Sequence, sequence))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: the signed statement does not describe this archive: %s", ErrBadSignature, strings.Join(diffs, "; "))
	}
	return nil
}

// signatureFile is the JSON form of SignatureFileName. Its byte members are
// standard base64 with padding, in canonical form.
type signatureFile struct {
	Statement  canonicalBase64  `json:"statement"`
	Signatures []signatureEntry `json:"signatures"`
}

type signatureEntry struct {
	KeyID string          `json:"keyid"`
	Sig   canonicalBase64 `json:"sig"`
}

// canonicalBase64 is bytes written as standard base64 with padding. Reading
// refuses any other encoding of them (SIGNATURE.md 4.1): line breaks, which
// Go's decoder skips, missing padding, non-zero pad bits. One set of bytes
// then has one text, and every reader reads the same bytes from it.
type canonicalBase64 []byte

func (b canonicalBase64) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

func (b *canonicalBase64) UnmarshalJSON(j []byte) error {
	var s string
	if err := json.Unmarshal(j, &s); err != nil {
		return err
	}
	d, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(d) != s {
		return fmt.Errorf("%q is not canonical standard base64 with padding", truncateString(s, 40))
	}
	*b = d
	return nil
}

// KeyID returns the key id of pub: "sha256:" and the lower-case hex SHA-256
// of its PKIX (SubjectPublicKeyInfo) DER encoding, the bytes of the
// "PUBLIC KEY" PEM block openssl writes. It returns "" for a key of the
// wrong length.
func KeyID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func validKeyID(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// readBounded reads at most max bytes of path, refusing a symlink and a
// longer file.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// LoadPrivateKey reads an Ed25519 private key from a PEM file holding one
// unencrypted PKCS#8 "PRIVATE KEY" block, as written by
// `openssl genpkey -algorithm ed25519 -out key.pem`. RSA, EC and X25519
// keys, encrypted keys, OpenSSH keys and public keys are refused with an
// error (errors.Is ErrKey) that says what the file holds.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := readBounded(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("archive: private key: %w", err)
	}
	blocks, err := pemBlocks(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	if len(blocks) != 1 {
		return nil, fmt.Errorf("%w: %s holds %d PEM blocks, want one PRIVATE KEY block", ErrKey, path, len(blocks))
	}
	blk := blocks[0]
	if err := checkPEMType(blk, "PRIVATE KEY"); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a PKCS#8 private key: %v", ErrKey, path, err)
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %s is %s key; enclave signs with Ed25519 (openssl genpkey -algorithm ed25519 -out key.pem)", ErrKey, path, keyKind(k))
	}
}

// LoadPublicKeys reads Ed25519 public keys from PEM files of PKIX
// "PUBLIC KEY" blocks, as written by `openssl pkey -in key.pem -pubout`.
// A file may hold several blocks (a keyring). Keys listed twice are returned
// once. Other key types and private keys are refused (errors.Is ErrKey).
func LoadPublicKeys(paths ...string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	seen := map[string]bool{}
	for _, path := range paths {
		b, err := readBounded(path, maxKeyFileSize)
		if err != nil {
			return nil, fmt.Errorf("archive: public key: %w", err)
		}
		blocks, err := pemBlocks(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
		}
		if len(blocks) == 0 {
			return nil, fmt.Errorf("%w: %s holds no PUBLIC KEY block", ErrKey, path)
		}
		for i, blk := range blocks {
			if err := checkPEMType(blk, "PUBLIC KEY"); err != nil {
				return nil, fmt.Errorf("%w: %s block %d: %v", ErrKey, path, i+1, err)
			}
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %s block %d: not a PKIX public key: %v", ErrKey, path, i+1, err)
			}
			pub, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("%w: %s block %d is %s key; enclave verifies Ed25519 signatures", ErrKey, path, i+1, keyKind(k))
			}
			if id := KeyID(pub); !seen[id] {
				seen[id] = true
				keys = append(keys, pub)
			}
		}
	}
	return keys, nil
}

// pemBlocks splits b into PEM blocks; anything but whitespace around them
// is refused.
func pemBlocks(b []byte) ([]*pem.Block, error) {
	var out []*pem.Block
	rest := b
	for {
		blk, r := pem.Decode(rest)
		if blk == nil {
			break
		}
		out = append(out, blk)
		rest = r
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if len(out) == 0 {
			if bytes.HasPrefix(bytes.TrimSpace(b), []byte("ssh-")) {
				return nil, errors.New("an OpenSSH public key, not PEM; use openssl pkey -in key.pem -pubout")
			}
			return nil, errors.New("not a PEM file")
		}
		return nil, errors.New("data after the last PEM block")
	}
	return out, nil
}

func checkPEMType(blk *pem.Block, want string) error {
	if blk.Headers["Proc-Type"] != "" || blk.Type == "ENCRYPTED PRIVATE KEY" {
		return errors.New("the key is encrypted; enclave needs an unencrypted key (openssl pkey -in enc.pem -out key.pem)")
	}
	if blk.Type == want {
		return nil
	}
	switch blk.Type {
	case "RSA PRIVATE KEY", "RSA PUBLIC KEY":
		return errors.New("an RSA key; enclave uses Ed25519 keys (openssl genpkey -algorithm ed25519)")
	case "EC PRIVATE KEY":
		return errors.New("an EC key; enclave uses Ed25519 keys (openssl genpkey -algorithm ed25519)")
	case "OPENSSH PRIVATE KEY":
		return errors.New("an OpenSSH key; enclave uses PKCS#8 PEM keys (openssl genpkey -algorithm ed25519)")
	case "PUBLIC KEY":
		return errors.New("a public key where a private key is needed")
	case "PRIVATE KEY":
		return errors.New("a private key where a public key is needed (openssl pkey -in key.pem -pubout -out key.pub)")
	case "CERTIFICATE":
		return errors.New("a certificate, not a key (openssl x509 -in cert.pem -pubkey -noout)")
	}
	return fmt.Errorf("PEM block %q, want %q", blk.Type, want)
}

func keyKind(k any) string {
	switch k.(type) {
	case *rsa.PrivateKey, *rsa.PublicKey:
		return "an RSA"
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return "an ECDSA"
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "an ECDH/X25519 (key agreement, not signing)"
	}
	return fmt.Sprintf("a %T", k)
}

// Sign signs the archive r, opened from dir, with key and adds the signature
// to dir/signature.json, writing it atomically. If the file already signs
// this archive, the new signature is added over the same statement bytes (a
// second signer co-signs; signing twice with one key changes nothing). A
// signature file for another archive is refused, not replaced.
func Sign(dir string, r *Reader, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrKey, len(key))
	}
	if err := sameDir(dir, r.Dir()); err != nil {
		return err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.unlock()

	m := r.Manifest()
	path := filepath.Join(dir, SignatureFileName)
	var sf signatureFile
	b, err := readBounded(path, maxSignatureFileSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st := &Statement{MediaType: SignatureMediaType, ArchiveID: r.ID().String(), ArchiveDigest: r.Digest(),
			Lineage: m.Lineage, Sequence: m.Sequence, Created: time.Now().UTC().Truncate(time.Second)}
		if sf.Statement, err = st.Encode(); err != nil {
			return fmt.Errorf("archive: sign: %w", err)
		}
	case err != nil:
		return fmt.Errorf("archive: sign: %w", err)
	default:
		if err := decodeSignatureFile(b, &sf); err != nil {
			return fmt.Errorf("archive: sign: existing %s: %w", path, err)
		}
		st, err := DecodeStatement(sf.Statement)
		if err != nil {
			return fmt.Errorf("archive: sign: existing %s: %w", path, err)
		}
		if err := st.Match(r.ID(), r.Digest(), m.Lineage, m.Sequence); err != nil {
			return fmt.Errorf("archive: sign: %s is not for this archive (remove it to sign anew): %w", path, err)
		}
	}
	id := KeyID(key.Public().(ed25519.PublicKey))
	sig := ed25519.Sign(key, sf.Statement)
	sf.Signatures = slices.DeleteFunc(sf.Signatures, func(e signatureEntry) bool { return e.KeyID == id })
	sf.Signatures = append(sf.Signatures, signatureEntry{KeyID: id, Sig: sig})
	slices.SortFunc(sf.Signatures, func(a, b signatureEntry) int { return strings.Compare(a.KeyID, b.KeyID) })
	if len(sf.Signatures) > maxSignatures {
		return fmt.Errorf("archive: sign: %s would hold more than %d signatures", path, maxSignatures)
	}
	out, err := json.MarshalIndent(&sf, "", "  ")
	if err != nil {
		return fmt.Errorf("archive: sign: %w", err)
	}
	if err := writeFileAtomic(path, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("archive: sign: write %s: %w", path, err)
	}
	return nil
}

// sameDir refuses to sign in a directory other than the one r was opened
// from.
func sameDir(dir, rdir string) error {
	a, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("archive: sign: %w", err)
	}
	b, err := os.Stat(rdir)
	if err != nil {
		return fmt.Errorf("archive: sign: %w", err)
	}
	if !os.SameFile(a, b) {
		return fmt.Errorf("archive: sign: the archive was opened from %s, not %s", rdir, dir)
	}
	return nil
}

// decodeSignatureFile parses and checks the shape of a signature file:
// a statement of bounded size, 1..maxSignatures entries with well-formed,
// distinct key ids and 64-byte signatures. Problems are ErrBadSignature.
func decodeSignatureFile(b []byte, sf *signatureFile) error {
	if err := json.Unmarshal(b, sf); err != nil {
		return fmt.Errorf("%w: signature file is not valid JSON: %v", ErrBadSignature, err)
	}
	if len(sf.Statement) == 0 || len(sf.Statement) > maxStatementSize {
		return fmt.Errorf("%w: statement of %d bytes (1..%d allowed)", ErrBadSignature, len(sf.Statement), maxStatementSize)
	}
	if len(sf.Signatures) == 0 || len(sf.Signatures) > maxSignatures {
		return fmt.Errorf("%w: %d signatures (1..%d allowed)", ErrBadSignature, len(sf.Signatures), maxSignatures)
	}
	seen := map[string]bool{}
	for i, e := range sf.Signatures {
		if !validKeyID(e.KeyID) {
			return fmt.Errorf("%w: signature %d: key id %q is not sha256:<64 hex>", ErrBadSignature, i+1, truncateString(e.KeyID, 80))
		}
		if seen[e.KeyID] {
			return fmt.Errorf("%w: key id %s signs twice", ErrBadSignature, e.KeyID)
		}
		seen[e.KeyID] = true
		if len(e.Sig) != ed25519.SignatureSize {
			return fmt.Errorf("%w: signature by %s is %d bytes, want %d", ErrBadSignature, e.KeyID, len(e.Sig), ed25519.SignatureSize)
		}
	}
	return nil
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// SignatureCheck says which keys are trusted and whether a signature is
// required. The zero value checks nothing.
type SignatureCheck struct {
	// Trusted are the keys whose signatures are accepted.
	Trusted []ed25519.PublicKey
	// Required refuses an archive without a signature file (ErrUnsigned).
	// Without it, an archive without one is accepted, but a signature file
	// that is present is always checked when Trusted is not empty, and any
	// fault in it refuses the archive: tampering is never tolerated.
	Required bool
}

// SignatureResult is a verified signature.
type SignatureResult struct {
	// KeyID is the trusted key that signed (the first in key id order when
	// several did).
	KeyID string
	// Statement is the signed statement.
	Statement Statement
}

// verifySignatureFile checks dir/signature.json against check and returns
// the signed statement and the id of the trusted key that signed it. It
// reads nothing else: the caller compares the statement with the archive
// (verifySignatureBeforeOpen does so with the final footer, Statement.Match
// with an opened archive).
//
// The signatures are checked over the statement bytes before the statement
// is parsed. Every signature by a trusted key must verify (ErrBadSignature
// otherwise); signatures by other keys are ignored when one trusted key
// signed, and reported in an *UntrustedKeyError (ErrUntrustedKey) when none
// did. Without a signature file it returns ErrUnsigned if check.Required,
// and a nil statement and no error otherwise. With no trusted keys and
// Required unset it checks nothing and returns a nil statement.
func verifySignatureFile(dir string, check SignatureCheck) (*Statement, string, error) {
	if len(check.Trusted) == 0 {
		if check.Required {
			return nil, "", fmt.Errorf("%w: signatures are required but no trusted key was given", ErrUntrustedKey)
		}
		return nil, "", nil
	}
	path := filepath.Join(dir, SignatureFileName)
	b, err := readBounded(path, maxSignatureFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		if check.Required {
			return nil, "", fmt.Errorf("%w: no %s in %s", ErrUnsigned, SignatureFileName, dir)
		}
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("archive: signature: %w", err)
	}
	var sf signatureFile
	if err := decodeSignatureFile(b, &sf); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	trusted := make(map[string]ed25519.PublicKey, len(check.Trusted))
	for _, k := range check.Trusted {
		if id := KeyID(k); id != "" {
			trusted[id] = k
		}
	}
	var good, others []string
	for _, e := range sf.Signatures {
		pub, ok := trusted[e.KeyID]
		if !ok {
			others = append(others, e.KeyID)
			continue
		}
		if !ed25519.Verify(pub, sf.Statement, e.Sig) {
			return nil, "", fmt.Errorf("%w: %s: the signature by trusted key %s does not verify (statement or signature changed)", ErrBadSignature, path, e.KeyID)
		}
		good = append(good, e.KeyID)
	}
	if len(good) == 0 {
		slices.Sort(others)
		return nil, "", &UntrustedKeyError{KeyIDs: others}
	}
	st, err := DecodeStatement(sf.Statement)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	slices.Sort(good)
	return st, good[0], nil
}

// verifySignature checks dir/signature.json against check and that the
// signed statement describes the archive with this id, digest, lineage and
// sequence (those of the opened archive: Reader.ID, Reader.Digest and its
// manifest's Lineage and Sequence). It returns nil and no error when the
// archive is unsigned and check does not require a signature, or when check
// has no trusted keys and does not require one.
func verifySignature(dir string, archiveID format.ArchiveID, archiveDigest digest.Digest, lineage string, sequence uint64, check SignatureCheck) (*SignatureResult, error) {
	st, id, err := verifySignatureFile(dir, check)
	if err != nil || st == nil {
		return nil, err
	}
	if err := st.Match(archiveID, archiveDigest, lineage, sequence); err != nil {
		return nil, err
	}
	return &SignatureResult{KeyID: id, Statement: *st}, nil
}

// verifySignatureBeforeOpen checks the signature file and compares the
// signed statement with the final volume's footer (archive id, and index
// hash against the archive digest), reading nothing but signature.json and
// the last 160 bytes of the highest-numbered volume. It runs before Open
// parses anything: Open then checks the index frame against the footer's
// index hash before parsing it, so the chain from signature to every volume
// is complete once Open succeeds. The caller then confirms lineage and
// sequence with Statement.Match against the opened archive (this also
// catches files replaced between the two calls).
//
// Its nil results are those of verifySignatureFile.
func verifySignatureBeforeOpen(dir string, check SignatureCheck) (*SignatureResult, error) {
	st, id, err := verifySignatureFile(dir, check)
	if err != nil || st == nil {
		return nil, err
	}
	vols, _, err := listVolumes(dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if len(vols) == 0 {
		return nil, fmt.Errorf("archive: no archive in %s (no %s files)", dir, VolumeName(1))
	}
	last := vols[len(vols)-1]
	f, err := os.OpenFile(filepath.Join(dir, last.name), os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	ft, err := format.ReadFooter(f, last.size)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", last.name, err)
	}
	if !ft.Final {
		return nil, &VolumeError{Dir: dir, Problems: []string{fmt.Sprintf("%s is not the final volume: the volumes after it, including the final one that holds the index, are missing", last.name)}, Err: format.ErrVolume}
	}
	var diffs []string
	if st.ArchiveID != ft.Archive.String() {
		diffs = append(diffs, fmt.Sprintf("archive id %s, the volumes' is %s", st.ArchiveID, ft.Archive))
	}
	if d := digest.NewDigestFromBytes(digest.SHA256, ft.IndexHash[:]); st.ArchiveDigest != d {
		diffs = append(diffs, fmt.Sprintf("archive digest %s, the final footer's index hash is %s", st.ArchiveDigest, d))
	}
	if len(diffs) > 0 {
		return nil, fmt.Errorf("%w: the signed statement does not describe the archive in %s: %s", ErrBadSignature, dir, strings.Join(diffs, "; "))
	}
	return &SignatureResult{KeyID: id, Statement: *st}, nil
}

// CheckRollback refuses (ErrRollback, as a *RollbackError) an archive that
// the receipt shows to be a rollback: rec records an applied archive of the
// same lineage whose sequence is not below a.Sequence and that is not this
// very archive (same archive id and digest). Applying the newest archive a
// second time is therefore not a rollback; applying an older one after a
// newer one, or another archive with an already applied sequence, is. An
// archive without a lineage, or a nil receipt, is never a rollback. allow
// turns the check off (--allow-rollback).
//
// a is the archive about to be applied: Archive, Digest, Lineage and
// Sequence are used, as the signed statement or the opened archive gives
// them.
func CheckRollback(rec *Receipt, a AppliedArchive, allow bool) error {
	if allow || rec == nil || a.Lineage == "" {
		return nil
	}
	var newest *AppliedArchive
	for i := range rec.Archives {
		x := &rec.Archives[i]
		if x.Lineage != a.Lineage || x.Sequence < a.Sequence {
			continue
		}
		if x.Archive == a.Archive && x.Digest == a.Digest {
			continue // this archive, applied before: a second run
		}
		if newest == nil || x.Sequence > newest.Sequence {
			newest = x
		}
	}
	if newest != nil {
		return &RollbackError{Archive: a, Applied: *newest}
	}
	return nil
}

// OpenSigned is the one way to open an archive whose signature must be
// checked: it verifies dir/signature.json against check and compares the
// signed statement with the final volume's footer before anything of the
// archive is parsed, then opens it (Open checks the index against the
// footer's hash, so the chain from the signature to every volume holds),
// then confirms the statement's lineage and sequence against the opened
// archive. The result is nil when the archive is unsigned and check does
// not require a signature.
func OpenSigned(dir string, check SignatureCheck, opts ...OpenOption) (*Reader, *SignatureResult, error) {
	if _, err := verifySignatureBeforeOpen(dir, check); err != nil {
		return nil, nil, err
	}
	r, err := Open(dir, opts...)
	if err != nil {
		return nil, nil, err
	}
	m := r.Manifest()
	res, err := verifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, check)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, res, nil
}
