# The two commands the README starts with live here.

GO ?= go
# The go commands below run with scripts/ensure-go's Go first on PATH (the
# tests build and run go too): a distribution's older go cannot read
# go.mod. Its first call in a recipe fetches that Go when needed, and fails
# the recipe when it cannot.
WITHGO = PATH="$$(scripts/ensure-go):$$PATH" GOTOOLCHAIN=local

.PHONY: demo test build vet screenshots

## demo: install the PostgreSQL server binaries when missing, then open
## pgmedic on a throwaway cluster with a staged incident (q removes it).
demo:
	scripts/ensure-go >/dev/null
	scripts/ensure-postgres
	$(WITHGO) $(GO) run ./cmd/pgmedic demo

## test: install the PostgreSQL server binaries and tmux when missing, then vet and
## run every test; tests that need PostgreSQL fail (never skip) without it.
test:
	scripts/ensure-go >/dev/null
	scripts/ensure-postgres
	scripts/ensure-tmux
	@unformatted="$$($(WITHGO) gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(WITHGO) $(GO) vet ./...
	$(WITHGO) PGMEDIC_REQUIRE_PG=1 $(GO) test -count=1 ./...

## build: a static binary at ./pgmedic
build:
	scripts/ensure-go >/dev/null
	$(WITHGO) CGO_ENABLED=0 $(GO) build -o pgmedic ./cmd/pgmedic

vet:
	$(WITHGO) $(GO) vet ./...

## screenshots: PNGs of the real screens, from the real binary in tmux.
screenshots:
	scripts/screenshots
