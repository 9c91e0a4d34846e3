# Every set-up step lives here, pinned, so a fresh machine (and CI's `bash .ci/run`) needs only
# Go, Python 3 and make: `make test` installs the rest into .venv on first use.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
# A bare `make` lists the targets rather than starting minutes of installs and tests; CI names
# its target (`make test`), so nothing relies on the default.
.DEFAULT_GOAL := help

# Go 1.27.3 for everything make runs (builds, tests, the Lambda binaries, the linters): the go
# command fetches that toolchain from the module proxy on first use (about 76 MB). It carries
# the standard-library fixes govulncheck asks for (make vulncheck); go.mod keeps `go 1.26`,
# so a plain `go test` in a shell still works with an installed Go 1.26.
export GOTOOLCHAIN := go1.27.3

PYTHON ?= python3
VENV   := .venv

STATICCHECK_VERSION := v0.8.2

# The Python tools and every one of their dependencies are pinned with their hashes in
# requirements/*.txt (compiled from the top-level pins in requirements/*.in by `make
# requirements`). --require-hashes makes pip refuse anything unpinned or with another hash;
# --no-deps installs exactly that list, already complete (pip's resolver would also ask for
# pins of a dependency named with and without extras, boto3 and boto3[crt]), and `pip check`
# then proves it complete; --only-binary keeps pip from building a package, whose build tools
# would be unpinned.
PIP_INSTALL := pip install --quiet --require-hashes --no-deps --only-binary=:all:
TOOLS_REQUIREMENTS := requirements/tools.txt
FUZZ_REQUIREMENTS  := requirements/fuzz.txt
BROWSER_REQUIREMENTS := requirements/browser.txt

# The stamp names a checksum of the requirements, so changing a pin reinstalls instead of
# reusing a stale venv (a checksum, not a timestamp: a restored .venv can look newer).
checksum = $(firstword $(shell cksum < $(1)))
STAMP := $(VENV)/.installed-tools-$(call checksum,$(TOOLS_REQUIREMENTS))
SAM   := $(VENV)/bin/sam

# samconfig.toml environment used by `make deploy` (default or prod).
ENV ?= default

export SAM_CLI_TELEMETRY := 0
# shared/testkit/testenv starts this moto server for the tests that need AWS.
export MOTO_SERVER := $(abspath $(VENV))/bin/moto_server

# Go files of the module, without the virtualenv and SAM's build output.
GO_FILES = $(shell find . \( -path ./.git -o -path ./$(VENV) -o -path ./.aws-sam \) -prune -o -name '*.go' -print)

# Flags for the Lambda binaries: no RPC mode (provided.al2023 speaks the Runtime API only),
# reproducible paths, no symbols. SAM's go1.x builder passes the environment to `go build`.
LAMBDA_GOFLAGS := -buildvcs=false -trimpath -tags=lambda.norpc "-ldflags=-s -w"

.PHONY: help venv requirements fmt fmt-check vet staticcheck template-lint vulncheck lint gotest test-short build test deploy clean clean-all

# --- set-up, checks, build and deploy ---

# Each target documents itself with a `## target: text` line; the `# --- title ---` lines
# head the groups. Reading them from the Makefile keeps the list from going stale.
## help: list the targets (a bare `make` does the same).
help:
	@echo "Start with: make dev (the product locally), make test (what CI runs). More: README.md."
	@awk '/^# --- / { t = $$0; sub(/^# --- */, "", t); sub(/ *---.*$$/, "", t); printf "\n%s:\n", t; next } \
	  /^## [A-Za-z0-9_-]+: / { n = $$2; sub(/:$$/, "", n); d = $$0; sub(/^## [^:]+: */, "", d); printf "  %-14s %s\n", n, d }' \
	  $(firstword $(MAKEFILE_LIST))

$(STAMP):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/$(PIP_INSTALL) -r $(TOOLS_REQUIREMENTS)
	$(VENV)/bin/pip check
	touch $@

## venv: install moto, cfn-lint and the SAM CLI (hash-pinned, requirements/tools.txt) into .venv, once.
venv: $(STAMP)

# pip-tools itself comes hash-pinned from requirements/piptools.txt, which this target also
# regenerates. The pins hold for Python 3.11, the version the README asks for.
PIP_TOOLS_VENV := .bin/pip-tools

## requirements: recompile requirements/*.txt (every dependency, with hashes) from the pins in requirements/*.in.
requirements:
	rm -rf $(PIP_TOOLS_VENV)
	$(PYTHON) -m venv $(PIP_TOOLS_VENV)
	$(PIP_TOOLS_VENV)/bin/$(PIP_INSTALL) -r requirements/piptools.txt
	$(PIP_TOOLS_VENV)/bin/pip check
	cd requirements && for f in *.in; do \
	  PIP_FIND_LINKS= ../$(PIP_TOOLS_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	    --no-emit-index-url --no-emit-find-links --output-file "$${f%.in}.txt" "$$f"; \
	done

## fmt: rewrite Go files with gofmt.
fmt:
	gofmt -w $(GO_FILES)

## fmt-check: fail when a Go file is not gofmt-clean.
fmt-check:
	@out="$$(gofmt -l $(GO_FILES))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## vet: go vet on every package.
vet:
	go vet ./...

## staticcheck: pinned staticcheck on every package.
staticcheck:
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## template-lint: SAM's validation plus cfn-lint on template.yaml.
template-lint: $(STAMP)
	$(SAM) validate --lint --template-file template.yaml
	$(VENV)/bin/cfn-lint template.yaml

# The vulnerability database cannot be fetched from vuln.go.dev here, but the Go module proxy
# serves a snapshot of it as a module (golang.org/x/vulndb, data/osv); that module's own
# indexdb turns it into the database govulncheck reads, once per snapshot (about 80 s).
VULNDB_VERSION      := v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION := v1.9.0
VULNDB              := .bin/vulndb
VULNDB_STAMP        := .bin/.vulndb-$(VULNDB_VERSION)

$(VULNDB_STAMP):
	rm -rf $(VULNDB) .bin/.vulndb-*
	mkdir -p .bin
	dir="$$(cd "$${TMPDIR:-/tmp}" && go mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | \
	  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')"; \
	test -d "$$dir/data/osv"; \
	cd "$$dir" && GOFLAGS=-mod=mod go run ./cmd/indexdb -vulns "$$dir/data/osv" -out $(abspath $(VULNDB))
	touch $@

## vulncheck: govulncheck (pinned) on every package, against the pinned snapshot of the Go vulnerability database.
vulncheck: $(VULNDB_STAMP)
	go run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db file://$(abspath $(VULNDB)) ./...

## lint: everything that checks without running.
lint: fmt-check vet staticcheck template-lint vulncheck

## gotest: the Go tests, with the race detector and no cached results.
gotest: $(STAMP) browser-deps
	go test -race -count=1 ./...

## test-short: the fast tier: go test -short, which skips what needs moto, the Lambda emulator, .venv or the soak.
test-short:
	go test -short ./...

## build: the Lambda binaries (arm64) and the built template, into .aws-sam/.
# The plain `go build` first shows compile errors as they are: when SAM's build fails it retries
# with the handler name as a package and reports only "stat .../bootstrap: directory not found".
# Same flags and target, so SAM's build then comes from the Go build cache.
build: $(STAMP)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 GOFLAGS='$(LAMBDA_GOFLAGS)' go build ./functions/...
	CGO_ENABLED=0 GOFLAGS='$(LAMBDA_GOFLAGS)' $(SAM) build --parallel

## test: what CI runs (.ci/run): lint, tests, then a real build.
test: $(STAMP)
	$(MAKE) lint
	$(MAKE) gotest
	$(MAKE) ci-fuzz
	$(MAKE) build

## deploy: build and deploy the samconfig.toml environment ENV (make deploy ENV=prod).
deploy: build
	$(SAM) deploy --config-env $(ENV)

## clean: remove SAM's build output.
clean:
	rm -rf .aws-sam

## clean-all: also remove the virtualenv (the next make reinstalls it).
clean-all: clean
	rm -rf $(VENV)

# --- console browser tests (issue 14) ---
# shared/testkit/browser runs pytest + Playwright (requirements/browser.txt, installed into
# .venv beside the tools) driving Debian's Chromium against the local stack; `make gotest`
# runs it with every other test. Playwright cannot download its own browsers here, so the
# tests launch CHROMIUM, which browser-deps installs with apt-get when it is missing (as root).
export CHROMIUM ?= /usr/bin/chromium
BROWSER_STAMP := $(VENV)/.installed-browser-$(call checksum,$(BROWSER_REQUIREMENTS))

.PHONY: browser-deps test-browser

# After $(STAMP): its recipe deletes .venv, and with it this stamp.
$(BROWSER_STAMP): $(STAMP)
	rm -f $(VENV)/.installed-browser-*
	$(VENV)/bin/$(PIP_INSTALL) -r $(BROWSER_REQUIREMENTS)
	$(VENV)/bin/pip check
	touch $@

## browser-deps: Chromium (Debian's chromium, apt-get when missing) and Playwright, axe-core and pytest (pinned) in .venv.
browser-deps: $(BROWSER_STAMP)
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$(CHROMIUM)" != /usr/bin/chromium ]; then echo "CHROMIUM=$(CHROMIUM) is not an executable"; exit 1; fi; \
	  if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run as root, or: sudo apt-get install chromium"; exit 1; fi; \
	  echo "browser-deps: installing Debian's chromium"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends chromium fonts-liberation || \
	    { apt-get update -q && apt-get install -y -q --no-install-recommends chromium fonts-liberation; }; \
	fi
	@echo "browser-deps: $$("$(CHROMIUM)" --version 2>/dev/null) ($(CHROMIUM))"

## test-browser: only the console's browser tests (screenshots in .artifacts/console/).
test-browser: $(STAMP) browser-deps
	go test -race -count=1 -v -run . ./shared/testkit/browser/

# --- local development (see shared/devtools) ---
# Ports and knobs (environment): LOCAL_AWS_PORT=4566 API_PORT=3000 MPARTICLE_PORT=9999,
# MPARTICLE_BASE_URL (a real or other mParticle endpoint instead of the built-in one),
# LOCAL_VISIBILITY_TIMEOUT=10s (how soon a message whose invocation crashed comes back; 0 keeps
# the queue's 180 s, as deployed), LOCAL_RETRY_BACKOFF_UNIT=1s (a failed message comes back after
# 1, 2, 4, 8, 16, then every 30 units; 0 keeps the deployed minute), LOCAL_BATCH_WINDOW
# (default: the template's), LOG_LEVEL=INFO.

# The Lambda Runtime Interface Emulator, pinned (shared/devtools/rie holds the same version).
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE_STAMP   := .bin/.aws-lambda-rie-$(RIE_VERSION)
DEV_TOOL    := .bin/dev

.PHONY: dev dev-token dev-send dev-demo redrive invoke events rie

$(RIE_STAMP):
	GOBIN=$(abspath .bin) CGO_ENABLED=0 go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
	touch $@

## rie: install the pinned aws-lambda-rie into .bin/.
rie: $(RIE_STAMP)

# Relinked only when a Go file changed, so `make dev` starts at once.
$(DEV_TOOL): $(GO_FILES) go.mod go.sum
	@go build -o $(DEV_TOOL) ./shared/devtools/cmd/dev

## dev: run the whole product locally (moto, Integrations API and its console, Forwarder, mParticle stand-in).
dev: $(STAMP) $(DEV_TOOL)
	@$(DEV_TOOL) up

## dev-token: print a bearer token the local API accepts (make dev-token APP_ID=<app id>, or ADMIN=1; NO_PLAN=1: without the mParticle plan).
dev-token: $(DEV_TOOL)
	@$(DEV_TOOL) token -app "$(APP_ID)" $(if $(ADMIN),-admin) $(if $(NO_PLAN),-no-plan)

## dev-send: enqueue platform events on the running stack (make dev-send FILE=events/sqs-purchased.json).
dev-send: $(DEV_TOOL)
	@$(DEV_TOOL) send -file "$(FILE)"

## dev-demo: integrations for a demo app, one event of each type and an invalid one; what arrived.
dev-demo: $(DEV_TOOL)
	@$(DEV_TOOL) demo

## redrive: move the local dead-letter queue's messages back to the events queue.
redrive: $(DEV_TOOL)
	@$(DEV_TOOL) redrive

## invoke: run one function under aws-lambda-rie (make invoke FUNCTION=forwarder EVENT=events/sqs-purchased.json).
invoke: $(STAMP) $(RIE_STAMP) $(DEV_TOOL)
	@$(DEV_TOOL) invoke -function "$(FUNCTION)" -event "$(EVENT)"

## events: regenerate events/ from the sample events (shared/event/eventtest) and template.yaml.
events:
	go run ./shared/devtools/cmd/genevents

# --- benchmarks (issues 6 and 12) ---
# `make bench` runs every benchmark (bench/run.sh): the Go benchmarks against their floor
# (json.Valid + the client's encoder), invocation costs per delivery-record policy, the
# per-stage CPU profile of an invocation, GOMAXPROCS=1 against the default under Lambda's
# CPU shares (cgroup quotas: run as root), peak RSS, the side-by-side with the official
# mParticle Node SDK (npm `mparticle`, pinned in bench/package-lock.json), cold start under
# aws-lambda-rie against a hello-world function, and bootstrap sizes. It prints the targets
# table, saves bench/results/latest.txt (benchstat format) and latest.md, and rewrites the
# figures in bench/README.md and the summary in README.md.
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da
BENCHSTAT         := .bin/benchstat
BENCHSTAT_STAMP   := .bin/.benchstat-$(BENCHSTAT_VERSION)
BENCH_NODE_STAMP  := bench/node_modules/.installed

.PHONY: bench bench-deps benchstat

$(BENCHSTAT_STAMP):
	GOBIN=$(abspath .bin) go install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)
	touch $@

$(BENCH_NODE_STAMP): bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	touch $@

## bench-deps: install what `make bench` needs (moto, aws-lambda-rie, benchstat, the Node SDK).
bench-deps: $(STAMP) $(RIE_STAMP) $(BENCHSTAT_STAMP) $(BENCH_NODE_STAMP)

## bench: run the benchmarks of issues 6 and 12; figures in bench/results/latest.{txt,md}, bench/README.md and README.md.
bench: bench-deps
	BIN=.bin RIE=.bin/aws-lambda-rie MOTO_SERVER=$(MOTO_SERVER) bash bench/run.sh

## benchstat: compare two saved runs (make benchstat OLD=old.txt [NEW=bench/results/latest.txt]).
benchstat: $(BENCHSTAT_STAMP)
	$(BENCHSTAT) $(OLD) $(or $(NEW),bench/results/latest.txt)

# --- delivery guarantees (issue 5) ---
# fuzz: every Go fuzz target for FUZZTIME (go test -fuzz takes one target of one package at a
# time). fuzz-api: schemathesis against the Integrations API served on moto (shared/devtools/cmd/apiserve),
# with its own pinned venv inside .venv (rebuilt with it). soak: the full soak test
# (shared/devtools/cmd/soak; TestSoakShort in `make gotest` is the CI-sized one), with SOAK_OUTAGE of
# mParticle answering only 503 midway (0 for none). ci-fuzz: both fuzzers
# within CI's budget, about 10 s per Go target plus API_FUZZ_SECONDS of schemathesis.
FUZZ_VENV  := $(VENV)/fuzz
FUZZ_STAMP := $(FUZZ_VENV)/.installed-$(call checksum,$(FUZZ_REQUIREMENTS))
FUZZTIME         ?= 10s
API_FUZZ_SECONDS ?= 45
API_FUZZ_SEED    ?= 1
SOAK_EVENTS      ?= 20000
SOAK_SEED        ?= 1
SOAK_OUTAGE      ?= 60s
# The forwarder's delivery-record policy for the soak (retries, all, off); POLICY= works too.
SOAK_POLICY      ?= $(or $(POLICY),retries)

.PHONY: fuzz fuzz-api ci-fuzz soak

# After $(STAMP): its recipe deletes .venv, this venv included.
$(FUZZ_STAMP): $(STAMP)
	rm -rf $(FUZZ_VENV)
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/$(PIP_INSTALL) -r $(FUZZ_REQUIREMENTS)
	$(FUZZ_VENV)/bin/pip check
	touch $@

## fuzz: run each Go fuzz target (func FuzzX in a _test.go file) for FUZZTIME.
fuzz:
	@targets=0; \
	for f in $(filter %_test.go,$(GO_FILES)); do \
	  for t in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$f"); do \
	    echo "fuzz: $$t ($$(dirname "$$f")) for $(FUZZTIME)"; \
	    go test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) "$$(dirname "$$f")"; \
	    targets=$$((targets + 1)); \
	  done; \
	done; \
	if [ "$$targets" -eq 0 ]; then echo "fuzz: no fuzz targets found"; exit 1; fi; \
	echo "fuzz: $$targets targets, no failure"

## fuzz-api: schemathesis (every check) on the Integrations API for API_FUZZ_SECONDS, plus isolation and secret checks.
fuzz-api: $(FUZZ_STAMP)
	go run ./shared/devtools/cmd/apiserve -st $(FUZZ_VENV)/bin/st -max-time $(API_FUZZ_SECONDS) -seed $(API_FUZZ_SEED)

## ci-fuzz: the fuzzers as CI runs them.
ci-fuzz:
	$(MAKE) fuzz FUZZTIME=10s
	$(MAKE) fuzz-api

## soak: the full soak test (SOAK_EVENTS messages under faults and an outage; several minutes); SOAK_POLICY=all|off for another record policy.
soak: $(STAMP)
	go run ./shared/devtools/cmd/soak -events $(SOAK_EVENTS) -seed $(SOAK_SEED) -outage $(SOAK_OUTAGE) -records $(SOAK_POLICY)
