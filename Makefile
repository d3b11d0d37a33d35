# The two commands a newcomer needs:
#   make run    start the whole system locally (Ctrl-C stops it)
#   make test   run every check and test (what CI runs)

SHELL := bash
GO    ?= go
LINT  := $(GO) tool -modfile=tools/go.mod golangci-lint

.PHONY: run test check-fmt vet lint unit daprd token migrate build clean help

help:
	@echo "make run               start broker, PostgreSQL, every service and its Dapr sidecar"
	@echo "make test              formatting, vet, lint, and every test (builds daprd once)"
	@echo "make daprd             build the pinned daprd into .cache/dapr/"
	@echo "make token USER_ID=bob print a bearer token for a user of the local system"
	@echo "make lint              golangci-lint"
	@echo "make build             build all binaries into bin/"

run:
	$(GO) run ./cmd/devstack

test: daprd check-fmt vet lint
	CI=$${CI:-} $(GO) test -race -count=1 -timeout 20m ./...

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(LINT) run ./...

# Cold: about 10 minutes on 2 cores; afterwards it is reused.
daprd:
	@scripts/build-daprd.sh >/dev/null

USER_ID ?= demo
token:
	@test -f .cache/dev/jwt-secret || { echo "start the system once with 'make run' first"; exit 1; }
	@JWT_SECRET=$$(cat .cache/dev/jwt-secret) $(GO) run ./cmd/todo-api token -user "$(USER_ID)"

migrate:
	$(GO) run ./cmd/todo-api migrate

build:
	$(GO) build -o bin/ ./cmd/...

clean:
	rm -rf bin/ .cache/bin .cache/run
