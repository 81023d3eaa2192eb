# enclave: make targets. Every target works on a fresh machine with only Go.
GO        ?= go
GOFLAGS   ?= -buildvcs=false
export GOFLAGS
BIN       := bin
FUZZTIME  ?= 30s
TESTFLAGS ?=

.PHONY: all build test test-short cross clients lint fuzz bench demo vectors clean

all: build

build:
	$(GO) build -o $(BIN)/ ./tools/enclave-pack ./tools/enclave-unpack ./tools/enclave-demo

# The full suite, race detector on, every test against real in-process registries.
test: cross
	$(GO) vet ./...
	$(GO) test -race -timeout 20m $(TESTFLAGS) ./...

# The library packages backup tools import build and vet on Windows and
# macOS (vet compiles them, tests included).
LIBPKGS := ./format/... ./archive/... ./ref/... ./imageset/... ./ocistore/...
cross:
	GOOS=windows $(GO) vet $(LIBPKGS)
	GOOS=darwin $(GO) vet $(LIBPKGS)

# The real clients (cosign, helm, opm) the tests check against, built once
# into the user cache (see .ci/clients.sh); without them those tests build
# them in the background or skip.
clients:
	bash .ci/clients.sh

test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	@keep=$$(mktemp -d) && trap 'rm -rf "$$keep"' EXIT && cp go.mod go.sum "$$keep/" && $(GO) mod tidy && \
	  if ! diff -q go.mod "$$keep/go.mod" >/dev/null || ! diff -q go.sum "$$keep/go.sum" >/dev/null; then \
	    cp "$$keep/go.mod" "$$keep/go.sum" .; echo "go mod tidy changes go.mod/go.sum"; exit 1; fi

# Every fuzz target, FUZZTIME each (see fuzz/run.sh).
fuzz:
	FUZZTIME=$(FUZZTIME) ./fuzz/run.sh

# Regenerate spec/testdata (the test vectors) from the generator.
vectors:
	$(GO) test ./format/ -run TestVectors -update

bench:
	$(GO) run ./tools/bench $(BENCHFLAGS)

demo:
	$(GO) run ./tools/enclave-demo

clean:
	rm -rf $(BIN) out
