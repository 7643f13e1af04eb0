# dnd: the two commands are `make demo` and `make test`.
SWIFT ?= swift
SHELL := /bin/bash

.PHONY: deps deps-torch build release test demo clean

deps:
	./Packaging/install-deps

# The PyTorch trainer's venv (.deps/torch), for its tests only.
deps-torch:
	./Packaging/install-deps --torch

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# XCTest only (no Swift Testing suites here); the last line is a plain "N passed, N failed" summary.
test: build deps-torch
	@set -o pipefail; $(SWIFT) test --disable-swift-testing 2>&1 | tee .build/test.log
	@awk '/^Test Suite .All tests. (passed|failed)/{getline; n=$$2; f=$$5} END{if (n == "") exit 1; printf "%d passed, %d failed\n", n-f, f}' .build/test.log

# The end-to-end demo (README "The demo"): a base model, a LoRA zoo and a generator built on this machine and cached
# in $(DEMO_ROOT), then `dnd serve` generating adapters for held-out datasets; `dnd bench dnd --root $(DEMO_ROOT)` after.
DEMO_ROOT ?= .demo
demo: release
	.build/release/dnd demo --root $(DEMO_ROOT)

clean:
	rm -rf .build
