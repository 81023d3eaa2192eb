// Package releasetest provides reusable fixtures for code that handles
// OpenShift releases: a realistic update graph and an HTTP server for it,
// a generator of synthetic release payloads (with real release-manifests)
// and their component images, an OpenPGP test key that signs atomic
// container signatures, and an HTTP server for release signatures.
//
// Nothing here reaches the network beyond loopback, and no key material is
// committed: keys are generated when a test asks for one.
package releasetest
