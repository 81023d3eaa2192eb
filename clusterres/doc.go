// Package clusterres writes the Kubernetes resources a cluster needs after
// images were pushed to a mirror registry, the files oc-mirror users know
// from its cluster-resources/ directory.
//
// Today that is an ImageDigestMirrorSet and an ImageTagMirrorSet
// (config.openshift.io/v1) telling the cluster to pull source repositories
// from their mirrors. Unlike oc-mirror, whose fixed names (idms-operator-0)
// make the output of one configuration overwrite another's on the cluster,
// names come from a caller-provided id, typically [ArchiveName] of the
// archive's digest, so resources from different archives coexist.
//
// Every object is a [Resource]; [WriteDir] writes any set of them into a
// directory atomically. CatalogSource, UpdateService and the release
// signature ConfigMap will be further Resource constructors.
package clusterres
