# dnd: the two commands are `make demo` and `make test`.
SWIFT ?= swift

.PHONY: deps build release test demo clean

deps:
	./Packaging/install-deps

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: build
	$(SWIFT) test

# Until the demo zoo lands (issue 10), the main job is the command line itself.
demo: release
	.build/release/dnd --help

clean:
	rm -rf .build
