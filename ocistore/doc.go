// Package ocistore is the registry side of enclave: it turns what users type
// (docker://, oci:// and plain image references) into oras-go targets.
//
// It parses and strictly validates references (ParseReference,
// ParseLocation), finds credentials the way docker and podman do (Keychain:
// auth files, credential helpers and stores), reads
// containers-registries.conf(5) with its drop-ins (RegistriesConf: prefixes,
// locations, mirrors, insecure, blocked), and builds targets:
//
//   - Client.Repository: a *remote.Repository with auth and TLS, for
//     destinations. TLS is verified unless Options.SkipTLSVerify or
//     registries.conf "insecure" say otherwise; only then may a registry
//     that speaks plain HTTP be used, and a warning is logged.
//   - Client.Source: a read-only target that tries registries.conf mirrors
//     before the origin, so images keep their names while bytes come from a
//     mirror; it records which endpoint served what.
//   - OpenOCILayout / CreateOCILayout: OCI image layouts on disk.
//
// registries.conf prefixes are matched byte for byte, host names included,
// as containers/image matches them (sysregistriesv2.FindRegistry folds no
// case, wildcards included); a reference whose match would change if host
// names were compared without case is refused (RegistriesConf.CaseDependent)
// rather than let escape a block or a mirror.
//
// Every network operation is bounded (Options.Timeouts: connect, TLS
// handshake, response headers, body stall; the retry budget bounds a request
// in total), and every list a registry sends is bounded before it is held
// (Options.Limits: referrers pages, entries and bytes).
//
// Classify maps any error from here or from oras-go to a Kind (auth, not
// found, TLS, network, registry) for exit codes. Credentials never appear
// in errors, logs or formatted values: every URL printed goes through one
// rule, retry.Redact (no user information, query or fragment).
package ocistore
