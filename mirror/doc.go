// Package mirror runs the enclave workflow: Pack copies what an
// ImageSetConfiguration names from registries into an archive (or straight
// into another registry), and Unpack pushes an archive into a registry,
// writing a receipt of what the destination now holds and the cluster
// resources that point a cluster at the mirror.
//
// What to mirror is decided by the kinds of content (package section and
// its kinds: mirror/platform, mirror/additional, listed by mirror/kinds);
// this package knows none of them by name. It runs their plans and moves
// the bytes:
//
//	pack.go     Pack: plan (each kind), copy every image, deliver (attachments, built images), finish
//	unpack.go   Unpack: signature, plan (each kind claims its roots), graph, preflight, the full read (VerifyFirst only), push, receipt, cluster resources
//	stream.go   the push's first half: every blob the destination lacks, uploaded as one reader goes through the volumes front to back (archive.Reader.Stream)
//	kinds.go    asking the kinds and handing them their results
//	copy.go     the graph copy both share: bounded successors, verified referrers, foreign layers
//	push.go     how a blob reaches a registry: cross-repository mounts, one upload per blob in archive order, resumable chunks, committed only once its digest matched (blobSource)
//	dest.go     pack destinations: an archive, a registry; dryrun.go the dry run
//	receipt.go  what a push put where, and the receipt
//	meter.go    bytes counted as they are read
//
// The CLIs in tools/ parse flags, call one function of this package and
// print.
package mirror
