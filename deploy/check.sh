#!/usr/bin/env bash
# check.sh — validate the deployment artifacts in deploy/ offline: the
# Kubernetes manifests, compose.yaml, and the Prometheus and Grafana files.
#
# Run `deploy/check.sh --help` for usage.
set -euo pipefail

readonly EXIT_FAIL=1
readonly EXIT_USAGE=2
readonly EXIT_PREREQ=3

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
readonly REPO_DIR
readonly DEPLOY_DIR="${REPO_DIR}/deploy"
readonly CHECK_DIR="${DEPLOY_DIR}/check"
readonly TOOLS_BIN="${REPO_DIR}/.tools/bin"
readonly CHECK_BIN="${TOOLS_BIN}/deploy-check"

usage() {
	cat <<EOF
Usage: deploy/check.sh [--no-selftest]

Validates deploy/ without a cluster, a Docker engine or the network (after the
first run, which fetches the Go modules of deploy/check):

  k8s/         kustomize build, every object decoded strictly into the
               Kubernetes API types (unknown fields and wrong types fail),
               KEDA and prometheus-operator objects too; then references
               between them (selectors, ports, Secret and ConfigMap keys,
               grace periods against WORKER_SHUTDOWN_TIMEOUT, KEDA lists
               against QUEUE_NAMESPACE) and every setting's value
  compose.yaml the compose-spec loader and schema (compose-go), then our rules
  monitoring/  alerts.yaml with Prometheus' rule parser (PromQL, templates),
               prometheus.yml with Prometheus' config loader, the Grafana
               dashboard's JSON and PromQL; metric and label names against
               what the service exports

The checker is the Go module deploy/check (its own go.mod, so the service's
dependencies stay as they are). It is built into ${CHECK_BIN#"${REPO_DIR}/"}
when its sources change. Its tests, which feed it broken copies of deploy/ and
expect each mistake to be reported, run first unless --no-selftest is given
(go test caches them while nothing changes). When kubectl is installed,
\`kubectl kustomize\` (offline) must build deploy/k8s too.

Examples:
  deploy/check.sh
  deploy/check.sh --no-selftest

Exit codes: 0 ok, 1 a problem was found, 2 usage error, 3 go missing or the
build failed.
EOF
}

log() { printf 'check: %s\n' "$*" >&2; }

# The checker's own module: never a go.work, whatever the caller has.
go_check() { (cd "$CHECK_DIR" && GOWORK=off go "$@"); }

# sources_hash prints a hash of everything the checker binary is built from.
sources_hash() {
	(cd "$CHECK_DIR" && cat go.mod go.sum ./*.go ./variables.json && go env GOVERSION) | sha256sum | cut -d' ' -f1
}

build_checker() {
	local want have=""
	want="$(sources_hash)"
	[[ -f "${CHECK_BIN}.sha256" ]] && have="$(<"${CHECK_BIN}.sha256")"
	if [[ -x "$CHECK_BIN" && "$have" == "$want" ]]; then
		return 0
	fi
	log "building the checker into ${CHECK_BIN} (a few minutes the first time: Go modules of deploy/check)"
	mkdir -p "$TOOLS_BIN"
	if ! go_check build -o "$CHECK_BIN" . >&2; then
		log "go build in ${CHECK_DIR} failed"
		return "$EXIT_PREREQ"
	fi
	printf '%s\n' "$want" >"${CHECK_BIN}.sha256"
}

main() {
	local selftest=1 arg
	for arg in "$@"; do
		case "$arg" in
		-h | --help | help)
			usage
			return 0
			;;
		--no-selftest) selftest=0 ;;
		*)
			log "unknown argument: ${arg}"
			usage >&2
			return "$EXIT_USAGE"
			;;
		esac
	done
	if ! command -v go >/dev/null 2>&1; then
		log "go is not on PATH; install Go 1.26 first"
		return "$EXIT_PREREQ"
	fi
	local start="${EPOCHREALTIME/./}"

	if ((selftest)); then
		log "self-test: go vet and go test in deploy/check (broken copies of deploy/ must fail)"
		if ! go_check vet . >&2 || ! go_check test . >&2; then
			log "the checker's own tests failed"
			return "$EXIT_FAIL"
		fi
	fi

	build_checker
	local rc=0
	"$CHECK_BIN" "$DEPLOY_DIR" || rc=$?

	if command -v kubectl >/dev/null 2>&1; then
		# Offline: kustomize only. `kubectl apply --dry-run=client` is not used on
		# purpose: it still asks the current context's cluster for its schemas.
		if kubectl kustomize "${DEPLOY_DIR}/k8s" >/dev/null; then
			printf 'ok    k8s: kubectl kustomize (%s)\n' "$(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: //p')"
		else
			printf 'FAIL  k8s: kubectl kustomize failed\n'
			rc="$EXIT_FAIL"
		fi
	fi

	log "done in $(((${EPOCHREALTIME/./} - start) / 1000)) ms"
	if ((rc != 0)); then
		return "$EXIT_FAIL"
	fi
}

main "$@"
