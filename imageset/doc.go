// Package imageset reads an ImageSetConfiguration, the file oc-mirror users
// already write to say what to mirror, and turns it into a plan: a list of
// source -> destination image references.
//
// # Loading
//
// [Load] and [LoadFile] accept kind ImageSetConfiguration with apiVersion
// mirror.openshift.io/v2alpha1 or mirror.openshift.io/v1alpha2 and model the
// whole schema oc-mirror v2 reads: archiveSize, and under mirror: platform,
// operators, additionalImages, helm, blockedImages and samples. A file
// oc-mirror v2 accepts loads with the same meaning (compat.go): docker://
// prefixes on image references, keys matched ignoring case (with a warning
// naming the canonical spelling), operator versions such as "4.15" or
// "v4.15.0" read as oc-mirror's semver library reads them, per-image
// platforms, a platform section without channels (it selects no release).
// Fields enclave accepts but does not act on (samples, kubeVirtContainer,
// platforms it cannot apply yet, a v1alpha2 storageConfig) load with one
// warning each, in [Config.Warnings]. Everything else is strict, like
// oc-mirror: an unknown field anywhere (a typo, a delete section) is an
// error naming the field, its YAML path, its line and the closest field:
//
//	imageset: isc.yaml:4: unknown field "additionalImage" in mirror (did you mean "additionalImages"?)
//
// Wrong types (a number where a string goes, as oc-mirror refuses), a file
// without mirror, empty or missing names, duplicate entries, invalid image
// references, versions that are not semantic versions, minVersion above
// maxVersion, unknown architectures and blockedImages patterns that do not
// compile are errors too. Every problem is a [*ConfigError]; Load reports all
// of them at once.
//
// archiveSize is read as oc-mirror documents it, in GiB (2^30 bytes) per
// archive file; [Config.ArchiveSizeBytes] converts.
//
// # Planning
//
// [Config.Plan] maps mirror.additionalImages to destinations relative to the
// destination root: the source host is dropped and the repository path kept
// ("quay.io/org/app:1.2" -> "org/app:1.2"); targetRepo replaces the path and
// targetTag the tag. Images selected by digest alone get the tag
// [DigestTag] so registries do not garbage-collect them. blockedImages
// patterns are matched against the canonical source reference and matching
// images are reported in [Plan.Blocked]. Sections this version cannot plan
// yet (platform, operators, helm) are an [ErrNotImplemented] error, never
// silently ignored.
//
// [Config.Match] answers the same question for the receiving side: which of
// the references an archive holds a configuration selects, and where each
// goes, by the rule that decided the mapping at pack.
//
// References are parsed by [ParseReference], a small parser following the
// distribution grammar with Docker Hub normalisation.
package imageset
