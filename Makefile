# Tourniquet: the verbs a user types.
#   make drill   start the local AWS emulator, seed an account, run every responder on the
#                sample events, show what each did
#   make test    everything CI checks (the emulator suite's AWS calls judged as IAM would)
#   make iam     judge the AWS calls of the last suite and drill runs as IAM would
#                (make iam CALLS=FILE: the calls in FILE, one JSON object a line)
# Both install what they need into a project-local virtualenv (.venv) first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PY_PACKAGES := moto[server]==5.2.5 cargo-lambda==1.9.2 cfn-lint==1.58.0 checkov==3.3.30 aws-sam-translator==1.115.0
# The IAM policy simulator (npm), pinned by scripts/iam/package-lock.json.
IAM_JUDGE := scripts/iam/node_modules/.installed
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export TOURNIQUET_PYTHON := $(abspath $(VENV))/bin/python
export TOURNIQUET_CARGO_LAMBDA := $(abspath $(VENV))/bin/cargo-lambda
# Where the suite and the drill record their functions' calls (see tests/moto/launcher.py).
export TOURNIQUET_CALLS_DIR := $(CARGO_TARGET_DIR)/iam
CALLS ?= $(wildcard $(TOURNIQUET_CALLS_DIR)/suite.jsonl $(TOURNIQUET_CALLS_DIR)/drill.jsonl)

.PHONY: help tools build drill test iam fuzz bench package fmt lint-template clean

help:
	@echo "make drill   run the responders against a seeded local AWS account and show what they did"
	@echo "make test    rustfmt, clippy, unit tests, the emulator suite and its AWS calls judged, template linters, the judge's tests"
	@echo "make iam     judge the last suite's and drill's AWS calls with an IAM policy simulator"
	@echo "make fuzz    100,000 arbitrary and mutated events through intake and plan"
	@echo "make bench   throughput, cold start, time to contain, peak memory: one markdown table"
	@echo "make package cargo lambda build --release --arm64 for every function"

$(VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_PACKAGES)
	touch $@

$(IAM_JUDGE): scripts/iam/package.json scripts/iam/package-lock.json
	cd scripts/iam && npm ci --no-audit --no-fund --silent
	touch $@

tools: $(VENV)/.installed $(IAM_JUDGE)

build:
	cargo build --workspace --bins

drill: tools build
	$(CARGO_TARGET_DIR)/debug/drill

test: tools
	cargo fmt --all -- --check
	$(PYTHON) scripts/check_layers.py
	cargo clippy --workspace --all-targets -- -D warnings
	cargo build --workspace --bins
	RUST_BACKTRACE=0 PROPTEST_CASES=2000 cargo test --workspace
	node scripts/iam/judge.mjs $(TOURNIQUET_CALLS_DIR)/suite.jsonl
	bash scripts/lint-template.sh $(VENV)/bin
	node --test scripts/iam/

iam: tools
	@test -n "$(CALLS)" || { echo "make iam: no recorded calls; run make test or make drill first" >&2; exit 2; }
	node scripts/iam/judge.mjs $(CALLS)

fuzz:
	RUST_BACKTRACE=0 PROPTEST_CASES=100000 cargo test -p playbook never_panic

bench: tools
	cargo bench -p playbook --bench intake_plan
	cargo build --release --workspace --bins
	$(CARGO_TARGET_DIR)/release/bench

package: tools
	bash scripts/package.sh $(VENV)/bin

fmt:
	cargo fmt --all

lint-template: tools
	bash scripts/lint-template.sh $(VENV)/bin

clean:
	cargo clean
	rm -rf $(VENV)
