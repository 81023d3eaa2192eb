package release

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/ocistore/retry"
)

// Signature sources and settings, as oc-mirror names them.
const (
	// DefaultSignatureURL is where Red Hat publishes release signatures:
	// <base>sha256=<hex>/signature-<n>.
	DefaultSignatureURL = "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release/"
	// EnvSignatureURL overrides DefaultSignatureURL.
	EnvSignatureURL = "OCP_SIGNATURE_URL"
	// EnvSignatureKey names an armored OpenPGP public key file to verify
	// release signatures with.
	EnvSignatureKey = "OCP_SIGNATURE_VERIFICATION_PK"
	// AtomicSignatureType is critical.type of a release signature.
	AtomicSignatureType = "atomic container signature"
)

// SignatureClient fetches release signatures. It is safe for concurrent use.
type SignatureClient struct {
	base     *url.URL
	client   *http.Client
	max      int
	maxBytes int64
	timeout  time.Duration
}

type sigOptions struct {
	fetchOptions
	base     string
	max      int
	maxBytes int64
}

// SignatureOption configures a SignatureClient.
type SignatureOption func(*sigOptions) error

// WithSignatureURL sets the base URL (wins over OCP_SIGNATURE_URL).
func WithSignatureURL(u string) SignatureOption {
	return func(o *sigOptions) error { o.base = u; return nil }
}

// WithSignatureHTTPClient sets the HTTP client.
func WithSignatureHTTPClient(c *http.Client) SignatureOption {
	return func(o *sigOptions) error { return o.setClient(c) }
}

// WithMaxSignatures caps how many signature-N are fetched per digest
// (default DefaultMaxSignatures).
func WithMaxSignatures(n int) SignatureOption {
	return func(o *sigOptions) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("%w: max signatures %d", ErrInvalidArgument, n)
		}
		o.max = n
		return nil
	}
}

// WithSignatureRetries sets the attempts per request and the bound of the
// first backoff (see WithGraphRetries).
func WithSignatureRetries(attempts int, backoff time.Duration) SignatureOption {
	return func(o *sigOptions) error { return o.setRetries(attempts, backoff) }
}

// WithSignatureGetenv replaces os.Getenv for OCP_SIGNATURE_URL.
func WithSignatureGetenv(f func(string) string) SignatureOption {
	return func(o *sigOptions) error { o.getenv = f; return nil }
}

// NewSignatureClient returns a client. The base URL is, in order:
// WithSignatureURL, $OCP_SIGNATURE_URL, DefaultSignatureURL; a missing
// trailing slash is added.
func NewSignatureClient(opts ...SignatureOption) (*SignatureClient, error) {
	o := sigOptions{fetchOptions: defaultFetchOptions(), max: DefaultMaxSignatures, maxBytes: DefaultMaxSignatureBytes}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	raw := o.base
	if raw == "" {
		raw = o.getenv(EnvSignatureURL)
	}
	if raw == "" {
		raw = DefaultSignatureURL
	}
	if !strings.HasSuffix(raw, "/") {
		raw += "/"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: signature URL %q is not an http(s) URL", ErrInvalidArgument, retry.RedactString(raw))
	}
	return &SignatureClient{base: u, client: fetchClient(o.client, o.retries, o.backoff),
		max: o.max, maxBytes: o.maxBytes, timeout: time.Minute}, nil
}

// URL returns the base URL in use, redacted (retry.Redact), as every
// message prints it.
func (c *SignatureClient) URL() string { return retry.Redact(c.base) }

// Fetch returns signature-1, signature-2, ... for payload d, stopping at the
// first 404 or after the client's maximum. No signature at all is
// ErrNoSignature. The signatures are not verified; use a Verifier.
func (c *SignatureClient) Fetch(ctx context.Context, d digest.Digest) ([][]byte, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("%w: digest %q", ErrInvalidArgument, d)
	}
	var sigs [][]byte
	for n := 1; n <= c.max; n++ {
		u := c.base.JoinPath(fmt.Sprintf("sha256=%s", d.Encoded()), fmt.Sprintf("signature-%d", n))
		body, err := get(ctx, c.client, u.String(), "", c.maxBytes, c.timeout)
		if err != nil {
			var se *statusError
			if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden) {
				// mirror.openshift.com answers 403 for a missing object on
				// some CDNs; treat both as "no more".
				break
			}
			if errors.As(err, &se) || errors.Is(err, ErrTooLarge) || !isConnError(err) {
				return nil, fmt.Errorf("release: signature server %s: %s signature-%d: %w", c.URL(), d, n, err)
			}
			return nil, fmt.Errorf("release: signature server %s unreachable: %w; inside an air gap carry signatures in the archive or set %s", c.URL(), err, EnvSignatureURL)
		}
		sigs = append(sigs, body)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: %s has no signature at %s", ErrNoSignature, d, c.URL())
	}
	return sigs, nil
}

// Verifier checks release signatures against a keyring.
type Verifier struct {
	keyring openpgp.EntityList
	now     func() time.Time
	source  string
}

// NewVerifier returns a Verifier trusting keyring (at least one key).
func NewVerifier(keyring openpgp.EntityList) (*Verifier, error) {
	if len(keyring) == 0 {
		return nil, fmt.Errorf("%w: empty keyring", ErrInvalidArgument)
	}
	return &Verifier{keyring: keyring, now: time.Now}, nil
}

// ParseArmoredKeyring reads an ASCII-armored public key block (one or more
// keys), at most MaxKeyringBytes.
func ParseArmoredKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxKeyringBytes+1))
	if err != nil {
		return nil, fmt.Errorf("release: read keyring: %w", err)
	}
	if len(data) > MaxKeyringBytes {
		return nil, fmt.Errorf("%w: keyring over %d bytes", ErrTooLarge, MaxKeyringBytes)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: keyring: %w", ErrInvalidArgument, err)
	}
	return el, nil
}

// VerifierFromEnv builds a Verifier from the armored key file named by
// path, or, if path is empty, by $OCP_SIGNATURE_VERIFICATION_PK. With
// neither, it trusts [DefaultKeyring], Red Hat's release keys, as oc-mirror
// does.
func VerifierFromEnv(path string, getenv func(string) string) (*Verifier, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if path == "" {
		path = getenv(EnvSignatureKey)
	}
	if path == "" {
		el, err := DefaultKeyring()
		if err != nil {
			return nil, err
		}
		v, err := NewVerifier(el)
		if err != nil {
			return nil, err
		}
		v.source = DefaultKeyringName
		return v, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("release: signing key: %w", err)
	}
	defer f.Close()
	el, err := ParseArmoredKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, err := NewVerifier(el)
	if err != nil {
		return nil, err
	}
	v.source = path
	return v, nil
}

// Source names the keyring v trusts: a key file, [DefaultKeyringName], or
// "the given keyring" for one built with [NewVerifier].
func (v *Verifier) Source() string {
	if v.source == "" {
		return "the given keyring"
	}
	return v.source
}

// SignatureInfo is what a verified signature says.
type SignatureInfo struct {
	// KeyID is the signing key's id (hex, 16 digits).
	KeyID string
	// Fingerprint is the signing key's fingerprint (hex).
	Fingerprint string
	// Digest is critical.image.docker-manifest-digest (== the payload).
	Digest digest.Digest
	// DockerReference is critical.identity.docker-reference, e.g.
	// quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64.
	DockerReference string
	// Created is the signature's creation time.
	Created time.Time
	// Optional is the signature's optional section, unverified semantics.
	Optional map[string]any
}

type atomicSignature struct {
	Critical struct {
		Type  string `json:"type"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// Verify checks that sig (an OpenPGP signed message, binary, possibly
// compressed) is signed by a key of the keyring and vouches for payload.
// The whole body is read before the signature result is looked at (the
// OpenPGP library reports it only at the end of the body).
func (v *Verifier) Verify(sig []byte, payload digest.Digest) (*SignatureInfo, error) {
	limit := int64(MaxSignatureBodyBytes)
	cfg := &packet.Config{MaxDecompressedMessageSize: &limit, Time: v.now}
	md, err := openpgp.ReadMessage(bytes.NewReader(sig), v.keyring, nil, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not an OpenPGP message: %w", ErrSignature, payload, err)
	}
	if md.IsEncrypted || md.IsSymmetricallyEncrypted {
		return nil, fmt.Errorf("%w: %s: message is encrypted", ErrSignature, payload)
	}
	if !md.IsSigned {
		return nil, fmt.Errorf("%w: %s: message is not signed", ErrSignature, payload)
	}
	keyID := fmt.Sprintf("%016X", md.SignedByKeyId)
	if md.SignedBy == nil {
		return nil, fmt.Errorf("%w: %s: signed by key %s, which is not in the keyring", ErrSignature, payload, keyID)
	}
	body, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, MaxSignatureBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: key %s: %w", ErrSignature, payload, keyID, err)
	}
	if len(body) > MaxSignatureBodyBytes {
		return nil, fmt.Errorf("%w: %s: key %s: signed body over %d bytes", ErrTooLarge, payload, keyID, MaxSignatureBodyBytes)
	}
	// io.ReadAll stopped at EOF, so the signature packet has been checked.
	if md.SignatureError != nil {
		return nil, fmt.Errorf("%w: %s: signature by key %s does not verify: %w", ErrSignature, payload, keyID, md.SignatureError)
	}
	if md.Signature == nil {
		return nil, fmt.Errorf("%w: %s: key %s: no signature packet", ErrSignature, payload, keyID)
	}
	var as atomicSignature
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&as); err != nil {
		return nil, fmt.Errorf("%w: %s: key %s: signed body is not JSON: %w", ErrSignature, payload, keyID, err)
	}
	if err := checkCriticalKeys(body); err != nil {
		return nil, fmt.Errorf("%w: %s: key %s: %w", ErrSignature, payload, keyID, err)
	}
	if as.Critical.Type != AtomicSignatureType {
		return nil, fmt.Errorf("%w: %s: key %s: critical.type %q, want %q", ErrSignature, payload, keyID, as.Critical.Type, AtomicSignatureType)
	}
	if as.Critical.Image.DockerManifestDigest != payload.String() {
		return nil, fmt.Errorf("%w: key %s signed %q, not the payload %s", ErrSignature, keyID, as.Critical.Image.DockerManifestDigest, payload)
	}
	return &SignatureInfo{
		KeyID:           keyID,
		Fingerprint:     fmt.Sprintf("%X", md.SignedBy.PublicKey.Fingerprint),
		Digest:          payload,
		DockerReference: as.Critical.Identity.DockerReference,
		Created:         md.Signature.CreationTime,
		Optional:        as.Optional,
	}, nil
}

// checkCriticalKeys rejects unknown keys in "critical": the atomic signature
// format requires consumers to refuse what they do not understand there.
func checkCriticalKeys(body []byte) error {
	var top struct {
		Critical map[string]json.RawMessage `json:"critical"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return err
	}
	allowed := map[string][]string{"type": nil, "image": {"docker-manifest-digest"}, "identity": {"docker-reference"}}
	for k, raw := range top.Critical {
		sub, ok := allowed[k]
		if !ok {
			return fmt.Errorf("unknown critical field %q", k)
		}
		if sub == nil {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("critical.%s: %w", k, err)
		}
		for sk := range m {
			if !slices.Contains(sub, sk) {
				return fmt.Errorf("unknown critical field %q", k+"."+sk)
			}
		}
	}
	return nil
}

// ReleaseSignature is one signature file of one payload, for the ConfigMap.
type ReleaseSignature struct {
	Digest digest.Digest
	// Index is n of signature-n (1-based).
	Index int
	Data  []byte
}

// Names used in the signature ConfigMap, as oc-mirror v2 writes it.
const (
	SignatureConfigMapName      = "mirrored-release-signatures"
	SignatureConfigMapNamespace = "openshift-config-managed"
	SignatureConfigMapLabel     = "release.openshift.io/verification-signatures"
)

// SignatureConfigMapYAML renders the ConfigMap the cluster-version operator
// reads release signatures from: binaryData keys sha256-<hex>-<n>, sorted,
// values base64. n is the signature's own index per digest (oc-mirror v2
// numbers across all digests; the operator only matches the sha256-<hex>-
// prefix, so both work). name defaults to SignatureConfigMapName. The result
// must fit MaxConfigMapBytes.
func SignatureConfigMapYAML(name string, sigs []ReleaseSignature) ([]byte, error) {
	if name == "" {
		name = SignatureConfigMapName
	}
	if !dnsLabelRE.MatchString(name) && !dnsSubdomainRE.MatchString(name) {
		return nil, fmt.Errorf("%w: ConfigMap name %q", ErrInvalidArgument, name)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no signatures", ErrInvalidArgument)
	}
	entries := map[string]string{}
	for _, s := range sigs {
		if err := s.Digest.Validate(); err != nil || s.Digest.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("%w: digest %q", ErrInvalidArgument, s.Digest)
		}
		if s.Index < 1 || len(s.Data) == 0 {
			return nil, fmt.Errorf("%w: signature %d of %s", ErrInvalidArgument, s.Index, s.Digest)
		}
		k := fmt.Sprintf("sha256-%s-%d", s.Digest.Encoded(), s.Index)
		if _, dup := entries[k]; dup {
			return nil, fmt.Errorf("%w: signature %d of %s given twice", ErrInvalidArgument, s.Index, s.Digest)
		}
		entries[k] = base64.StdEncoding.EncodeToString(s.Data)
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n  namespace: %s\n  labels:\n    %s: \"\"\nbinaryData:\n", name, SignatureConfigMapNamespace, SignatureConfigMapLabel)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, entries[k])
	}
	if b.Len() > MaxConfigMapBytes {
		return nil, fmt.Errorf("%w: signature ConfigMap is %d bytes, the cluster accepts %d; split the releases", ErrTooLarge, b.Len(), MaxConfigMapBytes)
	}
	return []byte(b.String()), nil
}
