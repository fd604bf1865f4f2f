SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

STACK := deploy/local/stack.sh
TOOLS := deploy/local/tools.sh
GOLANGCI_LINT := .tools/bin/golangci-lint
FUZZTIME ?= 5m

.PHONY: help build test test-faults test-order test-undo deploy-check rules-test openapi-lint docs docs-check lint vuln fmt tidy up down demo bench fuzz tools

help: ## Show this help
	@echo 'Usage: make TARGET'
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## Build the binaries in cmd/ into bin/
	go build -o bin/ ./cmd/...

# The stack's environment is exported in the same shell line as the tests. It is
# captured in a variable first: `eval "$$(cmd)"` alone would hide a failing `up`.
# vet and test are joined by &&: a vet failure fails the target even without
# .SHELLFLAGS' -e (the last command of a recipe line gives its status).
test: ## Start the local stack, then go vet and go test -race against it (docs-check included)
	stack_env="$$($(STACK) up)"; eval "$$stack_env"; \
	go vet ./... && \
	go test -race -count=1 ./...

# The fault tests run the service's processes against the stack and against
# a PostgreSQL and a Redis of their own, which they crash and restart.
test-faults: ## Start the local stack, then the fault tests (kill -9, restarts, S3 and SMTP faults, security, load): about 5 minutes
	stack_env="$$($(STACK) up)"; eval "$$stack_env"; \
	go test -count=1 -run '^(TestEveryRouteNeedsCredentials|TestRateLimitPerToken|TestFailedTokenChecksAreLimited|TestUploadAndIsolation)$$' ./producer; \
	go test -count=1 -run '^TestTenantsAreIsolated$$' ./internal/postgres; \
	go test -tags faults -count=1 -timeout 15m -run '^TestFault' -v ./e2e

test-order: ## The property test of a tenant's apply order on 2,000 random schedules (make test runs 200): about 5 minutes
	stack_env="$$($(STACK) up)"; eval "$$stack_env"; \
	ORDER_SCHEDULES=2000 go test -count=1 -timeout 30m -run '^TestImportsTakeEffectInAcceptedOrder$$' -v ./internal/postgres

test-undo: ## The property test of undo against a model on 500 random import sequences (make test runs 12): about 5 minutes
	stack_env="$$($(STACK) up)"; eval "$$stack_env"; \
	UNDO_SEQUENCES=500 go test -count=1 -timeout 30m -run '^TestUndoAgainstAModel$$' -v ./internal/postgres

docs: ## Regenerate docs/configuration.md and deploy/check/variables.json from internal/config's table
	go generate ./internal/config

docs-check: ## Check that every relative link and #anchor of README.md and docs/*.md resolves, and that the generated docs are current
	go test -count=1 -run '^(TestLinksResolve|TestCheckFindsBrokenLinks|TestGeneratedFilesAreCurrent)$$' ./internal/docs ./internal/config

deploy-check: ## Validate deploy/ offline: Kubernetes manifests, compose.yaml, alert rules, Grafana dashboard
	deploy/check.sh

# promtool comes with Debian's prometheus package (tools.sh installs it); the
# tests name the rule file relative to themselves.
rules-test: ## Unit-test the alert rules with promtool test rules (deploy/monitoring/alerts_test.yaml)
	promtool="$$($(TOOLS) promtool)"; \
	"$$promtool" test rules deploy/monitoring/alerts_test.yaml

# redocly is npm's @redocly/cli, pinned in tools.sh and installed into
# .tools/redocly; the rules are internal/apidoc/redocly.yaml.
openapi-lint: ## Lint the OpenAPI document internal/apidoc/openapi.json with @redocly/cli (pinned, installed into .tools/redocly)
	redocly="$$($(TOOLS) redocly)"; \
	"$$redocly" lint --config internal/apidoc/redocly.yaml internal/apidoc/openapi.json

lint: ## Run golangci-lint (pinned version, installed into .tools/bin)
	$(TOOLS) golangci-lint >/dev/null
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

# The database is a snapshot of golang.org/x/vulndb fetched through the Go
# module proxy (vuln.go.dev is out of reach where only the proxy is); VULN_DB
# names another, e.g. VULN_DB=https://vuln.go.dev make vuln.
vuln: ## Run govulncheck ./... (pinned version and database snapshot, see deploy/local/vulncheck.sh)
	deploy/local/vulncheck.sh

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
demo: ## The main job end to end on the local stack: 50 000 users through the queue and two workers, e-mail in mailpit
	deploy/local/demo.sh

bench: ## The goals of issue 15 (bench/cmd/bench -suite goals): whole commands vs their baselines, medians of 5 runs, on the local stack; about 15 minutes
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
