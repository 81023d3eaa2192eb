// Package release finds, reads and vouches for OpenShift (OCP and OKD) releases
// so that they can be carried across an air gap.
//
// It covers the part of an ImageSetConfiguration's `mirror.platform` section
// that needs knowledge of OpenShift itself:
//
//   - the update graph (Cincinnati) API: [GraphClient] fetches one channel's
//     graph for one architecture, [ParseGraph] validates the JSON (which is
//     also what travels inside an archive, so the enclave side never asks the
//     internet again);
//   - selection as oc-mirror users know it ([Select], [SelectChannel]):
//     channel head, version ranges, shortest upgrade paths, full channels;
//   - reading a release payload image ([ReadPayload]) to list its ~190
//     component images from `release-manifests/image-references`;
//   - release signatures ([SignatureClient], [Verifier]) and the ConfigMap that
//     lets a disconnected cluster verify mirrored payloads
//     ([SignatureConfigMapYAML]);
//   - the OpenShift Update Service: an `UpdateService` resource
//     ([UpdateServiceYAML]) and the graph-data image it consumes
//     ([BuildGraphDataImage]);
//   - destination naming compatible with oc-mirror v2 ([PayloadTag],
//     [ComponentTag], [ReleaseImagesRepo], ...).
//
// Everything that reads input controlled by someone else (HTTP answers,
// image layers, signatures, tarballs) is bounded; the limits are named in
// limits.go with the reason for each.
//
// The package does no I/O of its own beyond HTTP to the update graph and
// signature servers the caller names; registry access goes through oras-go
// targets the caller provides.
package release
