#!/usr/bin/env bash
# demo.sh — the main job end to end on the local stack: 50,000 generated users
# (1 % invalid, of every kind) imported through the queue by two workers, the
# result e-mail in mailpit, then the tenant exported and the export imported
# again (every record unchanged). Safe to run again.
#
# Usage: deploy/local/demo.sh [--rows N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

rows=50000
case "${1:-}" in
--rows) rows=${2:?--rows needs a number} ;;
-h | --help)
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "demo: unknown argument $1 (see --help)" >&2
	exit 2
	;;
esac

step() { printf '\n==> %s\n' "$*"; }
# validate and import exit 1 when some records are invalid, as the demo's file
# is generated to have; any other failure stops the demo.
allow_invalid() { "$@" || [ $? -eq 1 ]; }

step "build"
mkdir -p bin bench/out
go build -o bin/ ./cmd/...
step "local stack"
stack_env="$(deploy/local/stack.sh up)"
eval "$stack_env"
step "schema and the demo tenant's role catalog"
bin/importctl migrate
bin/importctl roles set --tenant demo agent supervisor admin auditor >/dev/null
step "generate $rows users, 1 % invalid"
bin/importctl gen --rows "$rows" --seed 1 --invalid 0.01 >bench/out/demo.csv
allow_invalid bin/importctl validate --roles agent,supervisor,admin,auditor bench/out/demo.csv >bench/out/demo-validate.txt
head -n 1 bench/out/demo-validate.txt

step "two workers"
pids=()
for i in 1 2; do
	bin/worker >"bench/out/demo-worker-$i.log" 2>&1 &
	pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT

step "import through the queue (upload to S3, plan, chunks, report, e-mail)"
allow_invalid bin/importctl import --tenant demo --wait --notify demo-admin@example.com bench/out/demo.csv
echo "the result e-mail (with the error report attached): $MAILPIT_URL (mailpit), to demo-admin@example.com"

step "export the tenant and import the export again: nothing changes"
bin/importctl export --tenant demo -o bench/out/demo-export.csv
bin/importctl import --tenant demo --wait bench/out/demo-export.csv

step "done"
echo "files and logs: bench/out/demo*; the workers stop now"
