#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 30s).
# Targets are found by name (func FuzzXxx in *_test.go); seed corpora come
# from each package's testdata and spec/testdata; crashers go to the
# package's testdata/fuzz/ as go test writes them. GOMEMLIMIT keeps every
# worker's heap small, so an allocation driven by input shows up as a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-30s}"
export GOMEMLIMIT="${GOMEMLIMIT:-512MiB}"
failed=0
count=0
while IFS= read -r line; do
  file="${line%%:*}"
  name="$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]+).*/\1/' <<<"$line")"
  pkg="./$(dirname "$file")"
  count=$((count+1))
  echo "fuzz: $pkg $name ($FUZZTIME)"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel 2 >/tmp/fuzz-$name.log 2>&1; then
    echo "fuzz: $name FAILED"; tail -30 /tmp/fuzz-$name.log; failed=$((failed+1))
  else
    tail -1 /tmp/fuzz-$name.log
  fi
done < <(grep -rEn --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | grep -v '^./fuzz/work' | sort)
echo "fuzz: $count targets, $failed failed"
[ "$failed" -eq 0 ]
