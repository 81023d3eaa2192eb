// Package mirror runs the enclave workflow: Pack copies what an
// ImageSetConfiguration names from registries into an archive (or straight
// into another registry), and Unpack pushes an archive into a registry,
// writing a receipt of what the destination now holds and the cluster
// resources that point a cluster at the mirror.
//
// It joins the other packages: imageset (what to mirror), ocistore
// (registries, auth, registries.conf, retries), archive (the archive as
// oras-go targets) and progress (what a person watching sees). The CLIs in
// tools/ parse flags, call one function of this package and print.
package mirror
