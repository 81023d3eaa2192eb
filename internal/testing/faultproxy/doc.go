// Package faultproxy injects registry faults in front of a real registry.
//
// A Proxy is an http.Handler placed in front of another handler (use
// Proxy.Wrap as regserver.Options.Wrap) or in front of a remote registry
// (NewReverseProxy). Rules select requests by method and a regular expression
// on the URL path, and apply a Fault to some of them: answer with a status
// (503, 429 with Retry-After, 401, an OCI error body...), drop the connection
// after a number of request or response body bytes, or stall before passing
// the request on. Every request is recorded (method, path, status, body bytes
// in both directions, fault applied) so tests can assert what the registry
// actually saw.
//
// Requests that no rule faults reach the real registry unchanged: the fault
// is always in front of a real implementation of the distribution spec, never
// a substitute for one.
//
// A Proxy is safe for concurrent use; rules may be added while requests are
// in flight.
package faultproxy
