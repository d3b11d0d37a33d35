# The two commands a newcomer needs:
#   make run    start the whole system locally (Ctrl-C stops it);
#               BROKER=redis|rabbitmq|mqtt runs it on that broker instead of
#               the dev broker (also for make chaos, make bench and the e2e
#               tests)
#   make test   run every check and test (what CI runs)

SHELL := bash
GO    ?= go
LINT  := $(GO) tool -modfile=tools/go.mod golangci-lint

.PHONY: run test check-fmt vet lint daprd token dead-letters chaos bench migrate build clean help

help:
	@echo "make run               start broker, PostgreSQL, every service and its Dapr sidecar"
	@echo "make run BROKER=redis  the same on Redis Streams (or rabbitmq, mqtt; default kafka, the dev broker)"
	@echo "make test              formatting, vet, lint, and every test (builds daprd once)"
	@echo "make daprd             find the pinned daprd (DAPRD, ~/.dapr/bin, PATH) or build it into .cache/dapr/"
	@echo "make token USER_ID=bob print a bearer token for a user of the local system"
	@echo "make dead-letters      list the events that reached a dead-letter topic (make run must be up)"
	@echo "make chaos             the fault-injection suite at full size (20,000 changes, ~6 min)"
	@echo "make bench             measure throughput, CPU per write, latency, the sweep, footprints and a soak (~20 min)"
	@echo "make lint              golangci-lint"
	@echo "make fuzz              hostile requests against todo-api and web-app, FUZZTIME each (default 10m)"
	@echo "make build             build all binaries into bin/"

run:
	@$(GO) build -o .cache/bin/devstack ./cmd/devstack
	@.cache/bin/devstack $(ARGS)

# make test runs every package on the dev broker (the universal pub/sub
# suite, internal/brokersuite, on all four; the e2e smoke run on MQTT,
# TestEveryBroker), then the whole e2e suite and the CI-size fault run again
# on each broker of TEST_BROKERS (docs/contributing.md, "Tests").
TEST_BROKERS ?= redis rabbitmq

test: daprd check-fmt vet lint compose-check chart-check
	CI=$${CI:-} E2E_OTHER_BROKERS=mqtt $(GO) test -race -count=1 -timeout 45m ./...
	@for b in $(TEST_BROKERS); do \
	  echo "make test: the e2e suite and the fault run on $$b"; \
	  CI=$${CI:-} BROKER=$$b $(GO) test -race -count=1 -timeout 45m -skip TestEveryBroker ./internal/e2e ./internal/chaos || exit 1; \
	done

# Offline checks of Dockerfile, deploy/compose and dapr.yaml (its own module).
.PHONY: compose-check
compose-check:
	cd deploy/composecheck && $(GO) test -count=1 ./...

# Offline checks of the Helm chart deploy/helm/todo: helm lint and template,
# strict decoding, drift against components/ (its own module; the first run
# builds helm, several minutes).
.PHONY: chart-check
chart-check:
	cd deploy/chartcheck && $(GO) test -count=1 ./...

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(LINT) run ./...

# An installed daprd of the pinned version ($DAPRD, ~/.dapr/bin, PATH) is
# used as it is; otherwise it is built once (about 10 minutes cold on 2
# cores) and reused.
daprd:
	@scripts/build-daprd.sh >/dev/null

USER_ID ?= demo
token:
	@test -f .cache/dev/jwt-secret || { echo "start the system once with 'make run' first"; exit 1; }
	@JWT_SECRET=$$(cat .cache/dev/jwt-secret) $(GO) run ./cmd/todo-api token -user "$(USER_ID)"

dead-letters:
	@test -f .cache/dev/dapr-api-token || { echo "start the system with 'make run' first"; exit 1; }
	@curl -s -H "dapr-api-token: $$(cat .cache/dev/dapr-api-token)" \
		"http://127.0.0.1:3501/v1.0/invoke/audit-service/method/dead-letters?limit=$${LIMIT:-100}"; echo

# Full size: every fault injected, in rounds, under 20,000 task changes.
# The report is written to .cache/chaos-report.md (copy it into docs/reliability.md).
chaos: daprd
	CHAOS_CHANGES=$${CHAOS_CHANGES:-20000} CHAOS_RATE=$${CHAOS_RATE:-100} CHAOS_REPORT=$(CURDIR)/.cache/chaos-report.md \
		$(GO) test ./internal/chaos -run TestChaos -count=1 -v -timeout 60m

# The whole system measured in one run (about 20 minutes, 10 of them the
# soak): the tables of docs/benchmarks.md, also written to
# .cache/bench-report.md. ARGS="-soak 1m -rates 100,200" is shorter.
bench: daprd
	$(GO) run ./cmd/bench -o $(CURDIR)/.cache/bench-report.md $(ARGS)

migrate:
	$(GO) run ./cmd/todo-api migrate

# Generated hostile requests, each suite for as long as FUZZTIME says (make
# test runs a short while of each as TestHostile and TestWebHostile):
#   - todo-api's, against the real HTTP server and a fresh PostgreSQL
#     database, coverage-guided; a failing input is kept in
#     internal/hostile/testdata/fuzz and replayed by every later go test.
#     Minimizing is capped at 10 runs an input: each run is real HTTP and
#     SQL, and the default (60 s an input) stalls the search;
#   - web-app's, against the real system (web-app, todo-api, their
#     sidecars, the state store); rapid prints a failing case's seed.
FUZZTIME ?= 10m
.PHONY: fuzz
fuzz: daprd
	$(GO) test ./internal/hostile -run '^$$' -fuzz '^FuzzHostile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $(ARGS)
	$(GO) test ./internal/webhostile -run '^TestWebHostile$$' -count=1 -v -timeout 0 -webhostile.duration $(FUZZTIME) $(ARGS)

build:
	$(GO) build -o bin/ ./cmd/...

clean:
	rm -rf bin/ .cache/bin .cache/run
