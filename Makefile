SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

STACK := deploy/local/stack.sh
TOOLS := deploy/local/tools.sh
GOLANGCI_LINT := .tools/bin/golangci-lint
FUZZTIME ?= 5m

.PHONY: help build test lint fmt tidy up down demo bench fuzz tools

help: ## Show this help
	@echo 'Usage: make TARGET'
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## Build the binaries in cmd/ into bin/
	go build -o bin/ ./cmd/...

# The stack's environment is exported in the same shell line as the tests. It is
# captured in a variable first: `eval "$$(cmd)"` alone would hide a failing `up`.
test: ## Start the local stack, then go vet and go test -race against it
	stack_env="$$($(STACK) up)"; eval "$$stack_env"; \
	go vet ./...; \
	go test -race -count=1 ./...

lint: ## Run golangci-lint (pinned version, installed into .tools/bin)
	$(TOOLS) golangci-lint >/dev/null
	$(GOLANGCI_LINT) run ./...

fmt: ## Format all Go code with gofmt
	go list -e -f '{{.Dir}}' ./... | xargs -r gofmt -l -w

tidy: ## go mod tidy
	go mod tidy

up: ## Start PostgreSQL, Redis, versitygw and mailpit (reuses what already runs)
	$(STACK) up

down: ## Stop what `make up` started (never the machine's own services)
	$(STACK) down

# `go run` turns every non-zero exit into 1, so the demo builds importctl and runs
# the binary: validate exits 1 when some records are invalid (expected here: 1 % of
# the rows are generated invalid) and 2 on a real failure.
# validate and import exit 1 when some records are invalid, as the demo's file
# is generated to have (`|| [ $$? -eq 1 ]`); any other failure stops the demo.
demo: ## Generate 10 000 users (1 % invalid), validate them, import them into the local stack, export and re-import
	@mkdir -p bin bench/out
	go build -o bin/importctl ./cmd/importctl
	@stack_env="$$($(STACK) up)"; eval "$$stack_env"; set -x; \
	bin/importctl gen --rows 10000 --seed 1 --invalid 0.01 > bench/out/demo.csv; \
	bin/importctl validate --roles $(DEMO_ROLES) bench/out/demo.csv > bench/out/demo-validate.txt || [ $$? -eq 1 ]; \
	head -n 8 bench/out/demo-validate.txt; \
	bin/importctl migrate; \
	bin/importctl roles set --tenant demo $(subst $(comma), ,$(DEMO_ROLES)); \
	bin/importctl import --tenant demo --local bench/out/demo.csv > bench/out/demo-import.txt || [ $$? -eq 1 ]; \
	tail -n 1 bench/out/demo-import.txt; \
	bin/importctl export --tenant demo -o bench/out/demo-export.csv; \
	bin/importctl import --tenant demo --local bench/out/demo-export.csv | tail -n 1; \
	{ set +x; } 2>/dev/null; \
	echo "==> tenant demo in $$DATABASE_URL; full reports in bench/out/demo-*.txt; re-importing the export changed nothing"

comma := ,
DEMO_ROLES := agent,supervisor,admin,auditor

bench: ## Run the reproducible benchmarks (bench/cmd/bench): parse and store suites, on the local stack
	stack_env="$$($(STACK) up)"; eval "$$stack_env"; \
	go run ./bench/cmd/bench

# -fuzzminimizetime 1x: Go's minimiser can stall on a failing input for the
# whole run and then report PASS; unminimised, the failure is reported at once.
# Findings land in internal/csvfile/testdata/fuzz and run in `make test`.
fuzz: ## Fuzz the CSV reader, FUZZTIME each for the two targets (default 5m)
	go test ./internal/csvfile -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1x
	go test ./internal/csvfile -run '^$$' -fuzz '^FuzzAgainstEncodingCSV$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1x

tools: ## Install the pinned tools into .tools/bin
	$(TOOLS) all
