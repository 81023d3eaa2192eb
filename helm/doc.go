// Package helm is everything chart-specific in enclave: it fetches Helm
// charts from classic HTTP chart repositories (index.yaml), from oci://
// chart repositories and from disk, finds the images a chart deploys by
// rendering it with Helm's own engine, turns a chart into the OCI artifact
// `helm push` would write (or copies an OCI chart byte for byte), and writes
// classic chart repository directories.
//
// It is the only package of the module allowed to import helm.sh/helm/v4
// or k8s.io (a test walks the dependencies of every other package), and it
// uses only Helm's chart loader and template engine: index.yaml, chart
// archives, provenance files and OCI charts are fetched through the
// project's own HTTP (with [retry.Transport]) and registry
// ([ocistore.Client]) stacks, never Helm's getters or registry client.
//
// # Versions
//
// A chart asked for without a version resolves to the highest stable
// semantic version the repository lists, pre-releases excluded, as helm
// pull picks it; a version that is listed exactly is taken as is; anything
// else is a Masterminds semver constraint (">=1.2 <2", "^4.12", "~1.4") and
// resolves to the highest version it admits. Resolution happens once, when
// the chart is fetched.
//
// # Destination names
//
// Charts and the images found in them keep their source host in their
// destination path, so that two registries serving the same path never meet
// at one destination (oc-mirror drops the host, and docker.io/x/y and
// quay.io/x/y then collide). Below the destination root:
//
//   - an image host/path:tag goes to <host>/<path>:tag, with the digest
//     kept ("docker.io/library/nginx:1.25" -> "docker.io/library/nginx:1.25");
//   - an OCI chart oci://host/path/name at version V goes to
//     <host>/<path>/<name>:T, where T is V with "+" written "_" as helm push
//     tags it, so `helm pull oci://<root>/<host>/<path>/<name> --version V`
//     finds it;
//   - a chart from an HTTP repository https://host/path goes to
//     <host>/<path>/<name>:T in the same way;
//   - a local chart goes to local/<name>:T.
//
// A host is written in lower case with its port separated by "__"
// ("localhost:5000" -> "localhost__5000"): host names cannot contain "_",
// so the rule is one-to-one. Path components are lower-cased, and any run
// of characters the distribution grammar refuses becomes "-"; a destination
// that two sources would share is reported by [CheckCollisions].
package helm
