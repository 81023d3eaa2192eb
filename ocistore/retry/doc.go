// Package retry provides an http.RoundTripper that retries the failures a
// registry in an air gap produces at 3 a.m., and nothing else.
//
// Retried: responses 408, 429, 500, 502, 503 and 504, and connection-level
// errors (reset, broken pipe, unexpected EOF, timeouts; connection refused at
// most three attempts in total, since a restarting registry comes back quickly
// and a wrong port never does). Waits grow exponentially with full jitter,
// bounded by Options.MaxDelay, Options.MaxAttempts and a total time budget per
// request (Options.Budget). A Retry-After header (delta-seconds or HTTP date)
// on 429 and 503 replaces the computed wait; when it points beyond the
// remaining budget the transport fails at once with an error that says when
// the registry asked to be called again.
//
// Never retried: requests whose body cannot be replayed (no Request.GetBody),
// PATCH requests (a chunked blob upload resumes through the upload-status
// endpoint instead, see package ocistore/upload), responses that will not
// change on their own (400, 401, 403, 404, 405, 413 and every other status
// not listed above), responses of any status whose OCI error body carries
// DENIED, UNAUTHORIZED, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID,
// DIGEST_INVALID, SIZE_INVALID or NAME_UNKNOWN, TLS verification failures,
// and cancelled or expired request contexts.
//
// The transport is meant to sit below oras-go's auth.Client, so that a 401
// goes straight back to the auth client (which fetches credentials once) and
// every attempt carries the credentials the auth client chose:
//
//	base := http.DefaultTransport.(*http.Transport).Clone()
//	repo.Client = &auth.Client{
//		Client:     &http.Client{Transport: retry.NewTransport(base, retry.Options{})},
//		Credential: cred,
//		Cache:      auth.NewCache(),
//	}
//
// Nothing the transport reports (Options.OnRetry arguments, errors) carries
// an Authorization, Proxy-Authorization or Cookie header, a URL query (signed
// URLs carry their signature there) or URL user information. Note that
// net/http.Client wraps transport errors in a *url.Error whose text includes
// the full request URL; callers that log such errors should log the wrapped
// error or redact the URL themselves.
package retry
