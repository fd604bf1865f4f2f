#!/usr/bin/env bash
# demo.sh — the main job end to end on the local stack: 50,000 generated users
# (1 % invalid, of every kind) uploaded through the producer's HTTP API and
# imported by two workers, the result e-mail in mailpit, then the tenant
# exported and the export imported again (every record unchanged). Safe to run
# again.
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

step "the producer (HTTP API on ${PRODUCER_ADDR:=127.0.0.1:8080}) and two workers"
export PRODUCER_ADDR
pids=()
bin/producer >bench/out/demo-producer.log 2>&1 &
pids+=($!)
for i in 1 2; do
	bin/worker >"bench/out/demo-worker-$i.log" 2>&1 &
	pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	curl -fsS "http://$PRODUCER_ADDR/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
token=$(bin/importctl tokens create --tenant demo --name demo 2>/dev/null)

step "upload through the API: POST /v1/imports (the file streams to S3, the import is queued)"
response=$(curl -fsS -H "Authorization: Bearer $token" -F file=@bench/out/demo.csv -F notify=demo-admin@example.com \
	"http://$PRODUCER_ADDR/v1/imports")
echo "$response"
id=$(printf '%s' "$response" | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
step "progress (plan, chunks, report, e-mail), then the summary"
allow_invalid bin/importctl status --tenant demo --wait "$id"
echo "the same over the API: curl -H 'Authorization: Bearer <token>' http://$PRODUCER_ADDR/v1/imports/$id"
echo "the result e-mail (with the error report attached): $MAILPIT_URL (mailpit), to demo-admin@example.com"

step "export the tenant and import the export again: nothing changes"
bin/importctl export --tenant demo -o bench/out/demo-export.csv
bin/importctl import --tenant demo --wait bench/out/demo-export.csv

step "done"
echo "files and logs: bench/out/demo*; the workers stop now"
