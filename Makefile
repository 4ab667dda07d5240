# Tourniquet: the verbs a user types.
#   make drill   start the local AWS emulator, seed an account, run every responder on the
#                sample events, show what each did
#   make test    everything CI checks
# Both install what they need into a project-local virtualenv (.venv) first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PY_PACKAGES := moto[server]==5.2.5 cargo-lambda==1.9.2 cfn-lint==1.58.0 checkov==3.3.30
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export TOURNIQUET_PYTHON := $(abspath $(VENV))/bin/python
export TOURNIQUET_CARGO_LAMBDA := $(abspath $(VENV))/bin/cargo-lambda

.PHONY: help tools build drill test fuzz bench package fmt lint-template clean

help:
	@echo "make drill   run the responders against a seeded local AWS account and show what they did"
	@echo "make test    rustfmt, clippy, unit tests, the emulator suite, template linters"
	@echo "make fuzz    100,000 arbitrary and mutated events through intake and plan"
	@echo "make bench   throughput, cold start, time to contain, peak memory: one markdown table"
	@echo "make package cargo lambda build --release --arm64 for every function"

$(VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_PACKAGES)
	touch $@

tools: $(VENV)/.installed

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
	bash scripts/lint-template.sh $(VENV)/bin

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
