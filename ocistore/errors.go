package ocistore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/ref"
)

// Sentinel errors. Every error this package returns wraps one of these, an
// oras-go errdef error, or the registry's *errcode.ErrorResponse.
var (
	// ErrInvalidReference: a reference, digest, tag or location does not
	// follow the grammar.
	ErrInvalidReference = ref.ErrInvalid
	// ErrInvalidConfig: an auth file or registries.conf cannot be used
	// (syntax, unknown key, contradictory settings).
	ErrInvalidConfig = errors.New("ocistore: invalid configuration")
	// ErrBlocked: registries.conf blocks pulling this reference.
	ErrBlocked = errors.New("ocistore: blocked by registries.conf")
	// ErrCredentialHelper: a docker-credential-* helper failed.
	ErrCredentialHelper = errors.New("ocistore: credential helper failed")
	// ErrPlainHTTPRefused: TLS verification is on and the server only
	// speaks plain HTTP; there is never a fall back.
	ErrPlainHTTPRefused = errors.New("ocistore: server speaks plain HTTP but TLS verification is on")
)

// Kind is a coarse class of failure, for exit codes and retry decisions.
type Kind int

// Kinds, from Classify.
const (
	// KindNone is the kind of a nil error.
	KindNone Kind = iota
	// KindOther is anything not listed below (local I/O, bugs, cancellation).
	KindOther
	// KindInvalid: bad reference or configuration (a usage error).
	KindInvalid
	// KindAuth: 401/403, UNAUTHORIZED, DENIED, or a failing credential helper.
	KindAuth
	// KindNotFound: manifest, blob, repository or tag does not exist.
	KindNotFound
	// KindTLS: certificate verification or TLS handshake failure.
	KindTLS
	// KindNetwork: connection refused or reset, DNS failure, timeouts.
	KindNetwork
	// KindRegistry: any other error the registry answered with (5xx, 413,
	// MANIFEST_BLOB_UNKNOWN, DIGEST_INVALID, ...), or a list it made
	// longer than Limits allow (ErrLimit).
	KindRegistry
)

var kindNames = [...]string{"none", "other", "invalid", "auth", "not-found", "tls", "network", "registry"}

// String returns a short lower-case name for k.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Classify tells what kind of failure err is. The first matching rule wins,
// in the order: invalid input, auth, TLS, not found, registry response,
// network.
func Classify(err error) Kind {
	if err == nil {
		return KindNone
	}
	if errors.Is(err, context.Canceled) {
		return KindOther
	}
	if errors.Is(err, ErrInvalidReference) || errors.Is(err, ErrInvalidConfig) || errors.Is(err, errdef.ErrInvalidReference) {
		return KindInvalid
	}
	if errors.Is(err, ErrCredentialHelper) {
		return KindAuth
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
			HasCode(err, errcode.ErrorCodeUnauthorized) || HasCode(err, errcode.ErrorCodeDenied):
			return KindAuth
		case resp.StatusCode == http.StatusNotFound ||
			HasCode(err, errcode.ErrorCodeManifestUnknown) || HasCode(err, errcode.ErrorCodeBlobUnknown) ||
			HasCode(err, errcode.ErrorCodeNameUnknown):
			return KindNotFound
		}
		return KindRegistry
	}
	if errors.Is(err, ErrLimit) {
		return KindRegistry
	}
	if isTLSError(err) || errors.Is(err, ErrPlainHTTPRefused) {
		return KindTLS
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return KindNotFound
	}
	if isNetworkError(err) {
		return KindNetwork
	}
	return KindOther
}

// HasCode reports whether err carries a registry error with the given code
// (errcode.ErrorCodeManifestBlobUnknown, "DENIED", ...).
func HasCode(err error, code string) bool {
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	for _, e := range resp.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// RedactURLs drops the query, fragment and user info of the URLs that
// err's chain prints: upload locations carry signed session state there,
// and redirects signed tokens. It changes *url.Error and
// *errcode.ErrorResponse values in place; URLs that other errors hold as
// text (oras-go's auth client writes the request URL into its message)
// are dropped from the text of the error it returns, which unwraps to err.
// Call it before err is printed or wrapped into a message.
// The rule is retry's (see retry.Redact): one rule for every URL printed.
func RedactURLs(err error) error {
	// One error may reach several images at once (a host that stopped
	// answering fails every request with the same error): redact it under
	// a lock. Redacting twice changes nothing.
	redactMu.Lock()
	redactInPlace(err)
	redactMu.Unlock()
	return retry.RedactError(err)
}

var redactMu sync.Mutex

func redactInPlace(err error) {
	switch e := err.(type) {
	case nil:
		return
	case *url.Error:
		// Written only when it changes: an error already redacted is
		// only read, however many goroutines hold it.
		if u, perr := url.Parse(e.URL); perr == nil {
			if r := redactURL(u).String(); r != e.URL {
				e.URL = r
			}
		} else if i := strings.IndexAny(e.URL, "?#"); i >= 0 {
			e.URL = e.URL[:i]
		}
	case *errcode.ErrorResponse:
		if e.URL != nil {
			if r := redactURL(e.URL); r.String() != e.URL.String() {
				e.URL = r
			}
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		redactInPlace(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			redactInPlace(e)
		}
	}
}

func redactURL(u *url.URL) *url.URL {
	r, err := url.Parse(retry.Redact(u))
	if err != nil {
		return &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	return r
}

func isTLSError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostname         x509.HostnameError
		verification     *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
		alert            tls.AlertError
	)
	// net/http's name for a plain-HTTP answer to a TLS hello.
	if errors.Is(err, http.ErrSchemeMismatch) {
		return true
	}
	return errors.As(err, &unknownAuthority) || errors.As(err, &invalidCert) ||
		errors.As(err, &hostname) || errors.As(err, &verification) ||
		errors.As(err, &recordHeader) || errors.As(err, &alert)
}

func isNetworkError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	return errors.As(err, &dnsErr) || errors.As(err, &opErr) || errors.As(err, &netErr)
}
