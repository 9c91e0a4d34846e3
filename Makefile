# Every set-up step lives here, pinned, so a fresh machine (and CI's `bash .ci/run`) needs
# nothing but Go, Python 3 and make.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-v1

MOTO_VERSION        := 5.2.5
CFN_LINT_VERSION    := 1.58.0
SAM_CLI_VERSION     := 1.170.0
STATICCHECK_VERSION := v0.7.0

export SAM_CLI_TELEMETRY := 0
export MOTO_SERVER := $(abspath $(VENV))/bin/moto_server

$(STAMP):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet "moto[server]==$(MOTO_VERSION)" "cfn-lint==$(CFN_LINT_VERSION)" "aws-sam-cli==$(SAM_CLI_VERSION)"
	touch $@

.PHONY: venv
venv: $(STAMP)
