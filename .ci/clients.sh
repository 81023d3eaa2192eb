#!/usr/bin/env bash
# Builds the real clients the tests check enclave against, from the Go module
# proxy, into the cache the tests read (os.UserCacheDir()/enclave/bin):
# cosign (signatures, tools/e2e/cosign_test.go), helm (charts, helm/helmtest)
# and opm (catalogs, catalog/opm_test.go). A client already built is kept; one
# that cannot be built makes its tests skip with a message. On a fresh
# 2-core machine the three builds take about 15, 6 and 5 minutes, in
# parallel. `make clients` runs this; .ci/run runs it before the suite.
set -uo pipefail
cd "$(dirname "$0")/.."
clients="${XDG_CACHE_HOME:-$HOME/.cache}/enclave/bin"
build_client() { # name version package
  local dir="$clients/$1-$2"
  [ -x "$dir/$1" ] && return 0
  mkdir -p "$dir.tmp" && GOBIN="$dir.tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false timeout 1800 go install "$3@$2" \
    && mkdir -p "$dir" && mv "$dir.tmp/$1" "$dir/$1" && rm -rf "$dir.tmp" \
    || echo "ci: could not build $1 $2; its tests will skip"
}
build_opm() { # as catalog/opm_test.go builds it: a file opm-<version>
  local bin="$clients/opm-$1" work
  [ -x "$bin" ] && return 0
  work=$(mktemp -d) && mkdir -p "$clients" && (cd "$work" && go mod init opmbuild >/dev/null 2>&1 \
    && GOWORK=off GOFLAGS=-mod=mod timeout 1800 go get "github.com/operator-framework/operator-registry/cmd/opm@$1" \
    && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 timeout 1800 go build -tags containers_image_openpgp -o "$bin.tmp" github.com/operator-framework/operator-registry/cmd/opm \
    && mv "$bin.tmp" "$bin") || echo "ci: could not build opm $1; its tests will skip"
  rm -rf "$work"
}
helm_version=$(go list -m -f '{{.Version}}' helm.sh/helm/v4 2>/dev/null || true)
build_client cosign v2.6.5 github.com/sigstore/cosign/v2/cmd/cosign &
[ -n "$helm_version" ] && build_client helm "$helm_version" helm.sh/helm/v4/cmd/helm &
build_opm v1.73.0 &
wait
ls -l "$clients" 2>/dev/null || true
