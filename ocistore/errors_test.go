package ocistore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

func regErr(status int, codes ...string) error {
	resp := &errcode.ErrorResponse{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: "r.io", Path: "/v2/"}, StatusCode: status}
	for _, c := range codes {
		resp.Errors = append(resp.Errors, errcode.Error{Code: c, Message: "m"})
	}
	return fmt.Errorf("wrapped: %w", resp)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{name: "nil", err: nil, want: KindNone},
		{name: "401", err: regErr(401, errcode.ErrorCodeUnauthorized), want: KindAuth},
		{name: "403 denied", err: regErr(403, errcode.ErrorCodeDenied), want: KindAuth},
		{name: "denied code on 400", err: regErr(400, errcode.ErrorCodeDenied), want: KindAuth},
		{name: "404", err: regErr(404), want: KindNotFound},
		{name: "manifest unknown", err: regErr(404, errcode.ErrorCodeManifestUnknown), want: KindNotFound},
		{name: "errdef not found", err: fmt.Errorf("x: %w", errdef.ErrNotFound), want: KindNotFound},
		{name: "manifest blob unknown", err: regErr(400, errcode.ErrorCodeManifestBlobUnknown), want: KindRegistry},
		{name: "413", err: regErr(413), want: KindRegistry},
		{name: "503", err: regErr(503), want: KindRegistry},
		{name: "unknown authority", err: &url.Error{Op: "Get", URL: "https://r.io", Err: x509.UnknownAuthorityError{}}, want: KindTLS},
		{name: "hostname", err: fmt.Errorf("x: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "r.io"}), want: KindTLS},
		{name: "plain http refused", err: fmt.Errorf("x: %w", ErrPlainHTTPRefused), want: KindTLS},
		{name: "connection refused", err: &url.Error{Op: "Get", URL: "https://r.io", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, want: KindNetwork},
		{name: "dns", err: &net.DNSError{Err: "no such host", Name: "r.invalid", IsNotFound: true}, want: KindNetwork},
		{name: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: KindNetwork},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), want: KindOther},
		{name: "invalid reference", err: fmt.Errorf("x: %w", ErrInvalidReference), want: KindInvalid},
		{name: "invalid config", err: ErrInvalidConfig, want: KindInvalid},
		{name: "helper", err: ErrCredentialHelper, want: KindAuth},
		{name: "other", err: errors.New("disk on fire"), want: KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if !HasCode(regErr(400, errcode.ErrorCodeManifestBlobUnknown, errcode.ErrorCodeManifestBlobUnknown), errcode.ErrorCodeManifestBlobUnknown) {
		t.Error("HasCode missed MANIFEST_BLOB_UNKNOWN")
	}
	if HasCode(regErr(404, errcode.ErrorCodeManifestUnknown), errcode.ErrorCodeDenied) || HasCode(errors.New("x"), "DENIED") {
		t.Error("HasCode false positive")
	}
}
