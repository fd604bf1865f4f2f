#!/usr/bin/env bash
# demo.sh — the main job end to end on the local stack: 50,000 generated users
# (1 % invalid, of every kind) uploaded through the producer's HTTP API and
# imported by two workers, the result e-mail in mailpit, then the tenant
# exported and the export imported again (every record unchanged). Safe to run
# again. With --keep, the producer and the workers stay up afterwards (until
# Ctrl-C) for the web pages, the dashboard and the metrics.
#
# Usage: deploy/local/demo.sh [--rows N] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

rows=50000
keep=false
while (($#)); do
	case "$1" in
	--rows)
		rows=${2:?--rows needs a number}
		shift
		;;
	--keep) keep=true ;;
	-h | --help)
		sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

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
# Operator access for the demo only: throwaway values on the loopback.
export PRODUCER_ADDR MONITORING_VIEWER="${MONITORING_VIEWER:-ops:demo-password-1}" METRICS_TOKEN="${METRICS_TOKEN:-demo-metrics-token-of-32-characters}"
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
echo "metrics (GET /metrics with METRICS_TOKEN), a few of them:"
curl -fsS -H "Authorization: Bearer $METRICS_TOKEN" "http://$PRODUCER_ADDR/metrics" |
	grep -E '^(userimport_imports\{state="(finished|running)"\}|asynq_tasks_processed_total)' | sed 's/^/  /'

step "export the tenant and import the export again: nothing changes"
bin/importctl export --tenant demo -o bench/out/demo-export.csv
bin/importctl import --tenant demo --wait bench/out/demo-export.csv

step "done"
(umask 077 && rm -f bench/out/demo-token.txt && printf '%s\n' "$token" >bench/out/demo-token.txt) # readable by you only
if $keep; then
	echo "the web pages:     http://$PRODUCER_ADDR/ui/ (log in with the token in bench/out/demo-token.txt)"
	echo "the dashboard:     http://$PRODUCER_ADDR/monitoring/ (user ${MONITORING_VIEWER%%:*}; the password is MONITORING_VIEWER's, set in deploy/local/demo.sh)"
	echo "files and logs: bench/out/demo*; Ctrl-C stops the producer and the workers"
	wait
fi
echo "files and logs: bench/out/demo*; the workers stop now (deploy/local/demo.sh --keep leaves them up)"
