package regserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// DefaultTokenLifetime is the lifetime of a token when TokenAuth.Lifetime
	// is zero; Docker Hub's tokens live as long.
	DefaultTokenLifetime = 5 * time.Minute

	// TokenPath is the path of the token endpoint on the registry's host.
	TokenPath = "/token"

	tokenService = "enclave-test-registry"
	tokenIssuer  = "enclave-test-issuer"
	tokenKeyID   = "enclave-test-key"
)

// TokenAuth makes a registry use distribution's token authentication (the
// scheme of Docker Hub, Quay and Harbor): the registry answers 401 with a
// Bearer challenge naming a realm, the client fetches a signed JWT there and
// sends it, and the registry verifies signature, issuer, audience, expiry
// and access claims. The realm is served by a TokenIssuer at TokenPath on
// the registry's own host and port.
type TokenAuth struct {
	// Lifetime is how long the registry accepts a token after it was
	// issued; 0 means DefaultTokenLifetime. Expiry has a granularity of a
	// second (JWT times are whole seconds): a token is accepted for
	// Lifetime and less than a second more.
	Lifetime time.Duration
}

// TokenIssuer is the token endpoint of a registry started with
// Options.Token. It grants every requested action on every requested
// resource to a client that presents Options.Username and Options.Password
// (basic auth), or to anyone when those are empty. Safe for concurrent use.
type TokenIssuer struct {
	lifetime       time.Duration
	user, password string
	key            ed25519.PrivateKey
	signer         jose.Signer
	issued         atomic.Int64
	refused        atomic.Int64
	revoked        atomic.Bool
}

// Revoke makes the issuer refuse every later request as for a wrong
// password: credentials withdrawn during a run.
func (t *TokenIssuer) Revoke() { t.revoked.Store(true) }

func newTokenIssuer(opts Options) (*TokenIssuer, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("regserver: token key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: tokenKeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("regserver: token signer: %w", err)
	}
	lifetime := opts.Token.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultTokenLifetime
	}
	return &TokenIssuer{lifetime: lifetime, user: opts.Username, password: opts.Password, key: key, signer: signer}, nil
}

// Issued returns how many tokens the issuer handed out.
func (t *TokenIssuer) Issued() int { return int(t.issued.Load()) }

// Refused returns how many token requests were refused for bad or missing
// credentials.
func (t *TokenIssuer) Refused() int { return int(t.refused.Load()) }

// config writes the public key as a JWKS file into dir and returns the
// registry's "token" auth configuration trusting it.
func (t *TokenIssuer) config(dir, realm string) (configuration.Auth, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: t.key.Public(), KeyID: tokenKeyID, Algorithm: string(jose.EdDSA), Use: "sig",
	}}}
	data, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("regserver: jwks: %w", err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	return configuration.Auth{"token": configuration.Parameters{
		"realm":             realm,
		"service":           tokenService,
		"issuer":            tokenIssuer,
		"jwks":              path,
		"signingalgorithms": []any{string(jose.EdDSA)},
	}}, nil
}

// ServeHTTP answers GET ?service=..&scope=.. with a token for the scopes,
// in the response format of the distribution token specification.
func (t *TokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		tokenError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the token endpoint answers GET only")
		return
	}
	if t.user != "" || t.password != "" || t.revoked.Load() {
		u, p, ok := r.BasicAuth()
		if !ok || t.revoked.Load() || subtle.ConstantTimeCompare([]byte(u), []byte(t.user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(t.password)) != 1 {
			t.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="enclave-test-token"`)
			tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	}
	q := r.URL.Query()
	if q.Get("service") != tokenService {
		tokenError(w, http.StatusBadRequest, "UNSUPPORTED", "unknown service")
		return
	}
	var access []*token.ResourceActions
	for _, param := range q["scope"] {
		for _, scope := range strings.Fields(param) {
			ra, ok := parseScope(scope)
			if !ok {
				tokenError(w, http.StatusBadRequest, "UNSUPPORTED", "malformed scope")
				return
			}
			access = append(access, ra)
		}
	}
	raw, err := t.sign(time.Now(), access)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "UNKNOWN", "signing failed")
		return
	}
	t.issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"token":        raw,
		"access_token": raw,
		"expires_in":   int(math.Ceil(t.lifetime.Seconds())),
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
	})
}

// sign returns a JWT issued at now granting access.
func (t *TokenIssuer) sign(now time.Time, access []*token.ResourceActions) (string, error) {
	var jti [8]byte
	rand.Read(jti[:])
	// distribution accepts a token until token.Leeway (60 s, for clock
	// skew) after its exp claim. The claim is therefore set Leeway before
	// the intended end, so that the registry's own check refuses the token
	// Lifetime after it was issued (rounded up to the next whole second,
	// the claim's unit) even when Lifetime is a few seconds.
	end := now.Add(t.lifetime - token.Leeway)
	exp := end.Unix()
	if end.After(time.Unix(exp, 0)) {
		exp++
	}
	claims := token.ClaimSet{
		Issuer:     tokenIssuer,
		Subject:    t.user,
		Audience:   token.AudienceList{tokenService},
		Expiration: exp,
		NotBefore:  now.Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      hex.EncodeToString(jti[:]),
		Access:     access,
	}
	return jwt.Signed(t.signer).Claims(claims).Serialize()
}

// parseScope parses "type:name:action,action"; name may contain colons
// (a registry host with a port, in some clients' scopes).
func parseScope(s string) (*token.ResourceActions, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndex(rest, ":")
	if !ok || typ == "" || i <= 0 {
		return nil, false
	}
	ra := &token.ResourceActions{Type: typ, Name: rest[:i]}
	for _, a := range strings.Split(rest[i+1:], ",") {
		if a != "" {
			ra.Actions = append(ra.Actions, a)
		}
	}
	return ra, true
}

func tokenError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}
