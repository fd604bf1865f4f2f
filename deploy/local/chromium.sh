#!/usr/bin/env bash
# Installs headless Chromium for the web pages' browser tests (e2e/web_test.go)
# and prints its path. Idempotent: an installed chromium is reused.
#
#   deploy/local/chromium.sh          # prints e.g. /usr/bin/chromium
#
# It uses Debian's package (apt-get install chromium), as root or with
# password-less sudo.
set -euo pipefail

for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
	if [[ -n "$c" && -x "$c" ]]; then
		echo "$c"
		exit 0
	fi
done

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! sudo -n true 2>/dev/null; then
		echo "chromium.sh: chromium is not installed; run as root: apt-get install -y chromium" >&2
		exit 1
	fi
	sudo=(sudo -n)
fi
echo "chromium.sh: installing chromium (apt-get install -y chromium)" >&2
# A stale package list makes apt-get install fail: update once, then retry.
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; then
	"${sudo[@]}" apt-get update -q >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
fi
command -v chromium
