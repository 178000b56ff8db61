# The two commands the README starts with live here.

GO ?= go

.PHONY: demo test build vet screenshots

## demo: install the PostgreSQL server binaries when missing, then open
## pgmedic on a throwaway cluster with a staged incident (q removes it).
demo:
	scripts/ensure-postgres
	$(GO) run ./cmd/pgmedic demo

## test: install the PostgreSQL server binaries and tmux when missing, then vet and
## run every test; tests that need PostgreSQL fail (never skip) without it.
test:
	scripts/ensure-postgres
	scripts/ensure-tmux
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	PGMEDIC_REQUIRE_PG=1 $(GO) test -count=1 ./...

## build: a static binary at ./pgmedic
build:
	CGO_ENABLED=0 $(GO) build -o pgmedic ./cmd/pgmedic

vet:
	$(GO) vet ./...

## screenshots: PNGs of the real screens, from the real binary in tmux.
screenshots:
	scripts/screenshots
