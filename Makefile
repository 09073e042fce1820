# The two entry points of the README. Both install missing Debian packages
# (scripts/install_deps) and build first.
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
FUZZ_SECONDS ?= 30

.PHONY: deps build build-asan test fuzz quickstart bench clean

deps:
	@scripts/install_deps

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	cmake --build build -j$(JOBS)

# Sanitizer build: CPU only (the CUDA runtime does not run under ASan).
build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRATA_SANITIZE=ON -DSTRATA_CUDA=OFF >/dev/null
	cmake --build build-asan -j$(JOBS)

test: build build-asan
	cd build && ctest --output-on-failure -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ctest --output-on-failure -j$(JOBS)

# libFuzzer harnesses (tests/fuzz) in build-fuzz with clang, each run for
# FUZZ_SECONDS on a copy of its seed corpus; fails on any crash, leak,
# timeout or memory-limit overrun (findings in build-fuzz/findings/).
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

quickstart: build
	./build/strata run recipes/quickstart.yaml

bench: build
	./build/strata bench --json

clean:
	rm -rf build build-asan
