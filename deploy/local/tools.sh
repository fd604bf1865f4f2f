#!/usr/bin/env bash
# tools.sh — install the project's pinned developer tools into <repo>/.tools/bin.
#
# Run `deploy/local/tools.sh --help` for usage.
set -euo pipefail

readonly EXIT_USAGE=2
readonly EXIT_PREREQ=3

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO_DIR
readonly TOOLS_BIN="${REPO_DIR}/.tools/bin"

# name → "<package>@<version>" and the module whose version the binary must report.
declare -A TOOL_PKG=(
	[golangci-lint]="github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
	[versitygw]="github.com/versity/versitygw/cmd/versitygw"
	[mailpit]="github.com/axllent/mailpit"
	[govulncheck]="golang.org/x/vuln/cmd/govulncheck"
)
declare -A TOOL_MOD=(
	[golangci-lint]="github.com/golangci/golangci-lint/v2"
	[versitygw]="github.com/versity/versitygw"
	[mailpit]="github.com/axllent/mailpit"
	[govulncheck]="golang.org/x/vuln"
)
declare -A TOOL_VERSION=(
	[golangci-lint]="v2.15.0"
	[versitygw]="v1.8.0"
	[mailpit]="v1.27.11"
	[govulncheck]="v1.9.0"
)
readonly TOOL_ORDER=(golangci-lint versitygw mailpit govulncheck)
# redocly lints docs/…/openapi.json (make openapi-lint): an npm package, not Go.
readonly REDOCLY_VERSION="1.34.5"
readonly REDOCLY_DIR="${REPO_DIR}/.tools/redocly"
# axe is npm's axe-core, the accessibility checker the browser test
# (e2e/console_test.go) injects into every page: its path is axe.min.js's.
readonly AXE_VERSION="4.14.1"
readonly AXE_DIR="${REPO_DIR}/.tools/axe"

usage() {
	cat <<EOF
Usage: deploy/local/tools.sh [golangci-lint|versitygw|mailpit|govulncheck|all|prometheus|promtool|redocly|axe]...

Installs the project's pinned tools with \`go install\` into ${TOOLS_BIN}
and prints the absolute path of each requested binary on stdout, one per line.
prometheus and promtool (the Prometheus end-to-end test, \`make rules-test\`)
are Debian's package instead, installed with apt-get when missing (as root or
with password-less sudo) and never started as a service; "all" leaves them out.
redocly (\`make openapi-lint\`) is npm's @redocly/cli, installed with npm into
${REDOCLY_DIR} (Debian's nodejs and npm are apt-get installed when missing).
axe (the browser test's accessibility check) is npm's axe-core, installed the
same way into ${AXE_DIR}; its path is that of axe.min.js, which the test
injects into the pages.
A tool is installed only when its binary is missing or was built from another
version (checked with \`go version -m\`), so a second run takes well under a second.
Progress messages go to stderr.

Pinned versions:
  golangci-lint  ${TOOL_PKG[golangci-lint]}@${TOOL_VERSION[golangci-lint]}
  versitygw      ${TOOL_PKG[versitygw]}@${TOOL_VERSION[versitygw]}
  mailpit        ${TOOL_PKG[mailpit]}@${TOOL_VERSION[mailpit]}
  govulncheck    ${TOOL_PKG[govulncheck]}@${TOOL_VERSION[govulncheck]}
  prometheus     Debian's package "prometheus" (bookworm: 2.42), with promtool
  redocly        npm's @redocly/cli@${REDOCLY_VERSION}
  axe            npm's axe-core@${AXE_VERSION} (prints the path of axe.min.js)

Examples:
  deploy/local/tools.sh                 # same as "all"
  deploy/local/tools.sh golangci-lint   # prints .../.tools/bin/golangci-lint
  "\$(deploy/local/tools.sh versitygw)" --version
  "\$(deploy/local/tools.sh promtool)" test rules deploy/monitoring/alerts_test.yaml

Exit codes: 0 ok, 2 usage error, 3 go missing or an install failed.
EOF
}

log() { printf 'tools: %s\n' "$*" >&2; }

# installed_version NAME prints the module version the installed binary was built from.
installed_version() {
	local bin="${TOOLS_BIN}/$1" mod="${TOOL_MOD[$1]}"
	[[ -x "$bin" ]] || return 0
	go version -m "$bin" 2>/dev/null | awk -v mod="$mod" '$1 == "mod" && $2 == mod { print $3; exit }'
}

ensure() {
	local name="$1" want="${TOOL_VERSION[$1]}" have
	have="$(installed_version "$name")"
	if [[ "$have" == "$want" ]]; then
		log "${name} ${want} already installed"
	else
		if [[ -n "$have" ]]; then
			log "${name}: found ${have}, want ${want}; reinstalling"
		fi
		log "installing ${TOOL_PKG[$name]}@${want} into ${TOOLS_BIN} (about a minute when Go's caches are cold)"
		mkdir -p "$TOOLS_BIN"
		if ! GOBIN="$TOOLS_BIN" go install "${TOOL_PKG[$name]}@${want}" >&2; then
			log "go install ${TOOL_PKG[$name]}@${want} failed"
			return "$EXIT_PREREQ"
		fi
		have="$(installed_version "$name")"
		if [[ "$have" != "$want" ]]; then
			log "${name}: installed binary reports version '${have}', want ${want}"
			return "$EXIT_PREREQ"
		fi
	fi
	printf '%s\n' "${TOOLS_BIN}/${name}"
}

# ensure_prometheus NAME prints the path of prometheus or promtool, installing
# Debian's package "prometheus" (it brings both) when either is missing. The
# package's own service is not wanted: the tests run their own Prometheus, so
# where systemd runs, the freshly installed unit is stopped and disabled.
ensure_prometheus() {
	local name="$1"
	if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
		apt_install "prometheus (Debian's package, with promtool)" prometheus || return
		if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
			log "stopping and disabling the package's prometheus.service (the tests start their own)"
			"${APT_SUDO[@]}" systemctl disable --now prometheus.service >&2 || true
		fi
	fi
	command -v "$name"
}

# ensure_npm makes sure npm is there: Debian's packages nodejs and npm are
# apt-get installed when it is missing (as root or with password-less sudo).
ensure_npm() {
	command -v npm >/dev/null 2>&1 && return 0
	apt_install "nodejs npm (Debian's packages)" nodejs npm
}

# apt_install WHAT PACKAGE... apt-get installs Debian's packages, as root or
# with password-less sudo (then kept in APT_SUDO for what follows), and says
# what to do where it cannot.
apt_install() {
	local what="$1"
	shift
	APT_SUDO=()
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			APT_SUDO=(sudo -n)
		else
			log "$* missing; run as root (or with password-less sudo) to apt-get install it, or install Debian's $* yourself"
			return "$EXIT_PREREQ"
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		log "$* missing and apt-get is not available; install $* yourself"
		return "$EXIT_PREREQ"
	fi
	log "apt-get install ${what}"
	if ! "${APT_SUDO[@]}" apt-get update -qq >&2 ||
		! "${APT_SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2; then
		log "apt-get install $* failed"
		return "$EXIT_PREREQ"
	fi
}

# ensure_npm_package NAME PACKAGE VERSION DIR FILE prints DIR/FILE, installing
# PACKAGE@VERSION with npm into DIR when its package.json is missing or names
# another version.
ensure_npm_package() {
	local name="$1" package="$2" version="$3" dir="$4" file="$5" have=""
	local pkg="${dir}/node_modules/${package}/package.json"
	if [[ -f "$pkg" ]]; then
		have="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg" | head -n 1)"
	fi
	if [[ -e "${dir}/${file}" && "$have" == "$version" ]]; then
		log "${name} ${version} already installed"
		printf '%s\n' "${dir}/${file}"
		return 0
	fi
	ensure_npm || return
	log "installing ${package}@${version} into ${dir} with npm"
	mkdir -p "$dir"
	if ! npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error "${package}@${version}" >&2; then
		log "npm install ${package}@${version} failed"
		return "$EXIT_PREREQ"
	fi
	printf '%s\n' "${dir}/${file}"
}

main() {
	local -a names=()
	if (($# == 0)); then
		set -- all
	fi
	local arg
	for arg in "$@"; do
		case "$arg" in
		-h | --help | help)
			usage
			return 0
			;;
		all) names+=("${TOOL_ORDER[@]}") ;;
		golangci-lint | versitygw | mailpit | govulncheck | prometheus | promtool | redocly | axe) names+=("$arg") ;;
		*)
			log "unknown tool: ${arg}"
			usage >&2
			return "$EXIT_USAGE"
			;;
		esac
	done
	if ! command -v go >/dev/null 2>&1; then
		log "go is not on PATH; install Go 1.26 first"
		return "$EXIT_PREREQ"
	fi
	local name
	for name in "${names[@]}"; do
		case "$name" in
		prometheus | promtool) ensure_prometheus "$name" ;;
		redocly) ensure_npm_package redocly @redocly/cli "$REDOCLY_VERSION" "$REDOCLY_DIR" node_modules/.bin/redocly ;;
		axe) ensure_npm_package axe axe-core "$AXE_VERSION" "$AXE_DIR" node_modules/axe-core/axe.min.js ;;
		*) ensure "$name" ;;
		esac
	done
}

main "$@"
