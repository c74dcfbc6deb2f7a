# cortexcast — `make run` builds everything, prepares the simulated default and serves the
# viewer on http://127.0.0.1:8080; `make test` runs every check CI runs.

GO      ?= go
BIN     := bin/cortexcast
WEB     := build/web
DATA    ?= data
ADDR    ?= 127.0.0.1:8080
GOROOT  := $(shell $(GO) env GOROOT)
# OpenBLAS (Debian's libopenblas-dev, through gonum's netlib binding) makes the large matrix
# products of ridge fitting ~8x faster; without it the pure-Go gonum path is used.
OPENBLAS_LIB = $(firstword $(wildcard /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so))
GOTAGS   = $(strip $(if $(OPENBLAS_LIB),openblas) $(if $(XLA),xla))
# GOEXPERIMENT=simd (Go >= 1.26, amd64) lets the pure-Go gomlx backend's matrix products use
# AVX2/AVX-512: the ONNX feature networks run 2-4x faster. SIMD= (empty) turns it off.
SIMD    ?= $(if $(filter amd64,$(shell $(GO) env GOARCH)),simd)
BUILDENV = $(if $(OPENBLAS_LIB),CGO_ENABLED=1 CGO_LDFLAGS=-lopenblas) $(if $(SIMD),GOEXPERIMENT=$(SIMD))
# Debian packages: chromium for the browser tests, the X11/GL headers that Ebiten's native
# build needs for `go vet`/`go test` of the viewer, python3 for the fixture scripts.
# staticcheck, pinned; installed into bin/ by `make vet` from the module proxy.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_DEBS := libopenblas-dev python3-numpy chromium libgl1-mesa-dev libxcursor-dev libxi-dev libxinerama-dev libxrandr-dev libxxf86vm-dev libasound2-dev pkg-config

.PHONY: all build build-deps wasm meshes bundles run demo test test-deps vet unit fuzz browser bench clean fixtures

all: build

build: build-deps
	@$(MAKE) --no-print-directory $(BIN) wasm

# build-deps installs OpenBLAS with apt-get when it is missing and we are root; elsewhere the
# build falls back to pure Go.
build-deps:
	@if [ -z "$(OPENBLAS_LIB)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing libopenblas-dev (faster ridge fitting)"; \
	  (apt-get install -y -qq libopenblas-dev >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >/dev/null)) \
	    || echo "could not install libopenblas-dev: building the pure-Go fallback"; \
	fi

$(BIN): FORCE
	@mkdir -p bin
	$(BUILDENV) $(GO) build $(if $(GOTAGS),-tags "$(GOTAGS)") -o $(BIN) ./backend/cmd/cortexcast

wasm:
	@mkdir -p $(WEB)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $(WEB)/cortexcast.wasm ./wasm
	cp $(GOROOT)/lib/wasm/wasm_exec.js $(WEB)/wasm_exec.js
	cp wasm/index.html $(WEB)/index.html

run: build
	$(BIN) demo --data $(DATA) --addr $(ADDR) --web $(WEB)

# test-deps installs what the tests need and is missing, with apt-get when root.
test-deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (install them with apt-get as root)"; exit 1; fi; \
	fi

vet: test-deps
	@test -z "$$(gofmt -l backend meshes viewer wasm)" || { gofmt -l backend meshes viewer wasm; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm ./viewer ./meshes ./backend/api
	GOBIN=$(CURDIR)/bin $(GO) install $(STATICCHECK)
	bin/staticcheck ./...
	GOOS=js GOARCH=wasm bin/staticcheck ./wasm ./viewer ./meshes ./backend/api

# The second run builds as `make build` does (OpenBLAS, GOEXPERIMENT=simd): the code paths only
# those builds take (BLAS products, the simd sigmoid) are tested too.
unit: test-deps build-deps
	$(GO) test -count=1 ./...
	$(BUILDENV) $(GO) test -count=1 $(if $(GOTAGS),-tags "$(GOTAGS)") ./backend/encoding/ ./backend/features/
	$(GO) test -count=1 -race ./backend/server/ ./backend/api/

# Each fuzz target runs briefly; what they find becomes a testdata/fuzz case.
FUZZ_TIME ?= 5s
fuzz:
	@set -e; log=$$(mktemp); for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' backend meshes viewer wasm | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$spec/*_test.go | sed 's/func //'); do \
	    echo "fuzz $$spec $$f"; ok=0; \
	    for try in 1 2; do \
	      if $(GO) test ./$$spec -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) >$$log 2>&1; then ok=1; break; fi; \
	      if grep -q 'Failing input written' $$log || ! grep -q 'context deadline exceeded' $$log; then break; fi; \
	      echo "fuzz $$spec $$f: a bare 'context deadline exceeded' is Go's -fuzztime shutdown race (golang/go#75804, fixed in Go 1.27): retrying once"; \
	    done; \
	    [ $$ok = 1 ] || { cat $$log; echo "fuzz $$spec $$f failed"; rm -f $$log; exit 1; }; \
	  done; done; rm -f $$log

test: vet wasm unit fuzz
	@echo "make test: all checks passed"

# bench prints each measurement beside its reference, measured in the same run: npy reading vs
# numpy.load, the simulator, ridge vs scikit-learn (minutes), then Go benchmarks for the Gabor
# features, mesh bundles (sizes and parse time), Pearson r and the viewer's camera change.
bench: build
	$(BUILDENV) $(GO) run $(if $(GOTAGS),-tags "$(GOTAGS)") ./backend/cmd/ccbench
	$(GO) test -run '^$$' -bench 'Gabor|DecodeBundle|PearsonColumns|CameraChange|Frame1280x720' -benchtime 3x \
	  ./backend/features/ ./meshes/ ./backend/metrics/ ./viewer/render/

# meshes downloads nilearn's fsaverage5 files into the user cache (pinned SHA-256), only when
# asked; offline it fails at once with instructions. bundles builds the compact mesh bundles.
meshes: build
	$(BIN) meshes fetch

bundles: build
	$(BIN) meshes build

# fixtures regenerates the committed test fixtures with Debian's python3 packages.
fixtures:
	@for s in scripts/fixtures/*.py; do echo "$$s"; /usr/bin/python3 $$s || exit 1; done

clean:
	rm -rf bin build testout

FORCE:
