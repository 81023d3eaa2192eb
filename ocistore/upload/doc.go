// Package upload pushes blobs to a registry in chunks that survive a broken
// link, and mounts blobs across repositories.
//
// oras-go pushes a blob with one monolithic PUT; when the link drops at 39 GB
// of a 40 GB layer, it starts again from zero. Push follows the chunked
// upload of the OCI distribution spec instead:
//
//	POST  /v2/<name>/blobs/uploads/                 -> 202, Location
//	PATCH <location>  Content-Range: <start>-<end>  -> 202, Location, Range
//	...
//	PUT   <location>?digest=<digest>                -> 201, Docker-Content-Digest
//
// When a PATCH fails (dropped connection, 5xx, 408, 429), Push asks the
// registry how much it has (GET <location>, 204 with Range: 0-<last>) and
// continues from there, reopening the source at that offset. An upload
// session the registry forgot (404) is started again; a registry that does
// not take chunks (400 or 416 on the first PATCH, or no upload-status
// endpoint) gets one monolithic PUT, and the fall back is logged. The
// digest the registry reports at the end is checked against the descriptor.
//
// Options.Monolithic skips the chunks for small blobs (POST, then one PUT
// with the whole blob), still through the Doer with a replayable body.
// A source that fails to read is not a network failure: Push stops with
// its error, without resuming or resending.
//
// Mount asks the registry to link a blob from another repository
// (POST ...?mount=<digest>&from=<repo>); no blob bytes travel.
//
// Requests go through a Doer: an *http.Client, or an oras-go *auth.Client
// (whose Do adds credentials and refreshes tokens). The repository scope for
// pull and push is added to the request context, so a bearer-token registry
// issues a token for the right repository. Every request body is replayable,
// so the auth client can resend it after a 401 (an expired token).
package upload
