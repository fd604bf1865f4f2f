#!/usr/bin/env bash
# vulncheck.sh — govulncheck ./... against the Go vulnerability database.
#
# Run `deploy/local/vulncheck.sh --help` for usage.
set -euo pipefail

readonly EXIT_USAGE=2
readonly EXIT_PREREQ=3

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO_DIR

# The database as a Go module: the golang/vulndb repository, whose data/osv
# holds every report, fetched through the Go module proxy like any module.
# vuln.go.dev, govulncheck's default, is often out of reach where only the
# proxy is (CI runners, this project's machines). A newer snapshot:
#   go list -m golang.org/x/vulndb@latest
readonly VULNDB_VERSION="v0.0.0-20261105234957-e22db6528018"
readonly VULNDB_DIR="${REPO_DIR}/.tools/vulndb/${VULNDB_VERSION}"

usage() {
	cat <<EOF
Usage: deploy/local/vulncheck.sh [govulncheck flags]

Runs govulncheck (pinned in deploy/local/tools.sh) on ./... and exits non-zero
when the code calls a known vulnerability.

The database: VULN_DB when set (e.g. VULN_DB=https://vuln.go.dev), otherwise
the snapshot golang.org/x/vulndb@${VULNDB_VERSION},
fetched through the Go module proxy and indexed once into
${VULNDB_DIR} (about a minute; later runs reuse it).

The standard library is checked as the toolchain named in go.mod builds it
(GOTOOLCHAIN=auto: downloaded through the proxy when the local Go is older).
When the local Go is older and GOTOOLCHAIN=local keeps it, a warning says so:
binaries built with it have the vulnerabilities the newer toolchain fixes.

Examples:
  make vuln
  deploy/local/vulncheck.sh -show verbose
  VULN_DB=https://vuln.go.dev deploy/local/vulncheck.sh

Exit codes: 0 no vulnerability called, 3 vulnerabilities found or a
prerequisite failed (govulncheck's own 3), 2 usage error.
EOF
}

log() { printf 'vulncheck: %s\n' "$*" >&2; }

# vulndb prints the file:// URL of the indexed snapshot, building it first.
vulndb() {
	if [[ -f "${VULNDB_DIR}/index/db.json" ]]; then
		printf 'file://%s\n' "$VULNDB_DIR"
		return 0
	fi
	log "fetching golang.org/x/vulndb@${VULNDB_VERSION} through the Go module proxy and indexing it (about a minute)"
	local src tmp
	if ! src="$(go mod download -json "golang.org/x/vulndb@${VULNDB_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || [[ -z "$src" ]]; then
		log "go mod download golang.org/x/vulndb@${VULNDB_VERSION} failed (is GOPROXY reachable?)"
		return "$EXIT_PREREQ"
	fi
	mkdir -p "$(dirname "$VULNDB_DIR")"
	tmp="$(mktemp -d "${VULNDB_DIR}.tmp.XXXXXX")"
	# indexdb writes the v1 layout govulncheck reads (index/db.json,
	# index/modules.json, ID/<id>.json) from the OSV files.
	if ! (cd "$tmp" && go run "golang.org/x/vulndb/cmd/indexdb@${VULNDB_VERSION}" -vulns "${src}/data/osv" -out "${tmp}/db") >&2; then
		rm -rf "$tmp"
		log "indexing the vulnerability database failed"
		return "$EXIT_PREREQ"
	fi
	mv "${tmp}/db" "$VULNDB_DIR"
	rm -rf "$tmp"
	printf 'file://%s\n' "$VULNDB_DIR"
}

main() {
	local arg
	for arg in "$@"; do
		case "$arg" in
		-h | --help | help)
			usage
			return 0
			;;
		esac
	done
	if ! command -v go >/dev/null 2>&1; then
		log "go is not on PATH; install Go 1.26 first"
		return "$EXIT_PREREQ"
	fi
	local govulncheck db
	govulncheck="$("${REPO_DIR}/deploy/local/tools.sh" govulncheck)"
	if [[ -n "${VULN_DB:-}" ]]; then
		db="$VULN_DB"
	else
		db="$(vulndb)"
	fi
	cd "$REPO_DIR"
	local want have
	want="$(go mod edit -json | sed -n 's/^[[:space:]]*"Toolchain": "\(.*\)",\{0,1\}$/\1/p')"
	have="$(GOTOOLCHAIN=local go env GOVERSION)"
	if [[ -n "$want" && "$(printf '%s\n%s\n' "$have" "$want" | sort -V | head -n 1)" != "$want" &&
		"$(go env GOTOOLCHAIN)" == "local" ]]; then
		log "warning: the local ${have} is older than go.mod's toolchain ${want}, and GOTOOLCHAIN=local keeps it:"
		log "  what is built here has the standard library's vulnerabilities that ${want} fixes; upgrade Go"
	fi
	log "govulncheck ./... (database ${db})"
	GOTOOLCHAIN=auto "$govulncheck" -db "$db" "$@" ./...
}

main "$@"
