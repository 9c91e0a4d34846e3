# Every set-up step lives here, pinned, so a fresh machine (and CI's `bash .ci/run`) needs only
# Go, Python 3 and make: `make test` installs the rest into .venv on first use.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := .venv

MOTO_VERSION        := 5.2.5
CFN_LINT_VERSION    := 1.58.0
SAM_CLI_VERSION     := 1.170.0
STATICCHECK_VERSION := v0.8.2

# The stamp names the pinned versions, so changing a pin reinstalls instead of reusing a stale venv.
STAMP := $(VENV)/.installed-moto$(MOTO_VERSION)-cfnlint$(CFN_LINT_VERSION)-sam$(SAM_CLI_VERSION)
SAM   := $(VENV)/bin/sam

# samconfig.toml environment used by `make deploy` (default or prod).
ENV ?= default

export SAM_CLI_TELEMETRY := 0
# shared/testenv starts this moto server for the tests that need AWS.
export MOTO_SERVER := $(abspath $(VENV))/bin/moto_server

# Go files of the module, without the virtualenv and SAM's build output.
GO_FILES = $(shell find . \( -path ./.git -o -path ./$(VENV) -o -path ./.aws-sam \) -prune -o -name '*.go' -print)

# Flags for the Lambda binaries: no RPC mode (provided.al2023 speaks the Runtime API only),
# reproducible paths, no symbols. SAM's go1.x builder passes the environment to `go build`.
LAMBDA_GOFLAGS := -buildvcs=false -trimpath -tags=lambda.norpc "-ldflags=-s -w"

.PHONY: venv fmt fmt-check vet staticcheck template-lint lint gotest build test deploy clean clean-all

$(STAMP):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet "moto[server]==$(MOTO_VERSION)" "cfn-lint==$(CFN_LINT_VERSION)" "aws-sam-cli==$(SAM_CLI_VERSION)"
	touch $@

## venv: install moto, cfn-lint and the SAM CLI (pinned) into .venv, once.
venv: $(STAMP)

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

## lint: everything that checks without running.
lint: fmt-check vet staticcheck template-lint

## gotest: the Go tests, with the race detector and no cached results.
gotest: $(STAMP)
	go test -race -count=1 ./...

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

# --- local development (see shared/devtools) ---
