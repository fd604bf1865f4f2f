#!/usr/bin/env bash
# stack.sh — the local services userimport needs, without Docker:
# PostgreSQL, Redis, versitygw (S3) and mailpit (SMTP capture).
#
# Run `deploy/local/stack.sh --help` for usage.
set -euo pipefail

readonly EXIT_FAIL=1   # a service did not come up, or (status) not every service answers
readonly EXIT_USAGE=2  # bad command line
readonly EXIT_PREREQ=3 # a prerequisite is missing and could not be installed

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO_DIR
readonly TOOLS_SH="${REPO_DIR}/deploy/local/tools.sh"

readonly HOST=127.0.0.1
readonly PG_PORT=5432 REDIS_PORT=6379 S3_PORT=9002 SMTP_PORT=1025 MAILPIT_PORT=8025
readonly DB_NAME=userimport
readonly S3_BUCKET=userimport S3_REGION=us-east-1
# Fixed, local-only root credentials of the stack's own versitygw. Not a secret.
readonly S3_ACCESS_KEY=userimport S3_SECRET_KEY=userimport-secret
readonly S3_URL="http://${HOST}:${S3_PORT}" MAILPIT_URL="http://${HOST}:${MAILPIT_PORT}"

# libpq tries GSSAPI first, which costs ~0.5 s per connection on hosts without Kerberos.
export PGGSSENCMODE=disable PGCONNECT_TIMEOUT=5

usage() {
	cat <<EOF
Usage: deploy/local/stack.sh COMMAND

Runs the services userimport needs on ${HOST} (no Docker):
  postgres   ${HOST}:${PG_PORT}   database "${DB_NAME}"
  redis      ${HOST}:${REDIS_PORT}
  versitygw  ${S3_URL}   S3 API, bucket "${S3_BUCKET}"
  mailpit    SMTP ${HOST}:${SMTP_PORT}, web/API ${MAILPIT_URL}

A service that already answers on its port is reused (normally the machine's
own PostgreSQL and Redis); otherwise the script starts its own, installing
missing packages with apt-get and pinned Go tools with deploy/local/tools.sh.
It also makes sure Debian's prometheus package is installed (the end-to-end
test starts its own Prometheus; \`up\` never starts one).
Data, logs and pid files live in \${STACK_DIR:-<repo>/.stack}.

Commands:
  up       start what is not running, create the database and the bucket, then
           print the environment as \`export NAME=value\` lines on stdout
           (progress goes to stderr). Idempotent.
  down     stop what \`up\` started; never the machine's own services. Keeps data.
  status   show each service as up (reused|started) or down
  env      print the environment lines only; starts nothing
  help     this text

Examples:
  eval "\$(deploy/local/stack.sh up)"     # start and export into this shell
  deploy/local/stack.sh status
  deploy/local/stack.sh env > .env.local
  STACK_DIR=/var/tmp/ui-stack deploy/local/stack.sh up
  deploy/local/stack.sh down

Exit codes:
  0  success (status: every service answers)
  1  a service failed to start or is not ready (status: something is down)
  2  usage error
  3  a prerequisite is missing and could not be installed
EOF
}

log() { printf 'stack: %s\n' "$*" >&2; }

die() {
	local code="$1"
	shift
	log "error: $*"
	exit "$code"
}

print_env() {
	# Values are single-quoted so that `eval` never glob-expands the `?` in DATABASE_URL.
	local -a pairs=(
		DATABASE_URL "postgres://postgres@${HOST}:${PG_PORT}/${DB_NAME}?sslmode=disable"
		REDIS_URL "redis://${HOST}:${REDIS_PORT}/0"
		S3_ENDPOINT "${S3_URL}"
		S3_BUCKET "${S3_BUCKET}"
		S3_FORCE_PATH_STYLE true
		AWS_ACCESS_KEY_ID "${S3_ACCESS_KEY}"
		AWS_SECRET_ACCESS_KEY "${S3_SECRET_KEY}"
		AWS_REGION "${S3_REGION}"
		SMTP_URL "smtp://${HOST}:${SMTP_PORT}"
		MAIL_FROM "userimport@localhost"
		MAILPIT_URL "${MAILPIT_URL}"
	)
	local i
	for ((i = 0; i < ${#pairs[@]}; i += 2)); do
		printf "export %s='%s'\n" "${pairs[i]}" "${pairs[i + 1]}"
	done
}

# ---------------------------------------------------------------- stack dir, lock

init_stack_dir() {
	STACK_DIR="${STACK_DIR:-${REPO_DIR}/.stack}"
	mkdir -p "${STACK_DIR}/run"
	STACK_DIR="$(cd "$STACK_DIR" && pwd -P)"
	RUN_DIR="${STACK_DIR}/run"
	# One `up`/`down` at a time. Every child started below gets `9>&-` so that no
	# daemon inherits (and holds) the lock.
	exec 9>"${RUN_DIR}/lock"
	if ! flock -w 300 9; then
		die "$EXIT_FAIL" "another stack.sh holds ${RUN_DIR}/lock"
	fi
}

# ---------------------------------------------------------------- helpers

tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# pid_is PID COMM: PID is a live (non-zombie) process whose command name is COMM.
pid_is() {
	local pid="$1" comm="$2" stat
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ "$(cat "/proc/${pid}/comm" 2>/dev/null)" == "$comm" ]] || return 1
	stat="$(cat "/proc/${pid}/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[[ "${stat:0:1}" != Z ]]
}

# recorded_pid SERVICE COMM prints the pid `up` recorded, if that process still runs.
recorded_pid() {
	local file="${RUN_DIR}/$1.pid" pid
	[[ -f "$file" ]] || return 1
	pid="$(<"$file")"
	pid_is "$pid" "$2" || return 1
	printf '%s' "$pid"
}

# wait_for NAME TIMEOUT_SECONDS PID CHECK... polls CHECK until it succeeds; gives up
# early when PID (if not empty) dies.
wait_for() {
	local name="$1" timeout="$2" pid="$3"
	shift 3
	local deadline=$((SECONDS + timeout))
	until "$@"; do
		if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
			log "${name} exited during start-up"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "${name} not ready after ${timeout}s"
			return 1
		fi
		sleep 0.1
	done
}

show_log_tail() {
	if [[ -r "$1" ]]; then
		log "last lines of $1:"
		tail -n 20 "$1" >&2 || true
	fi
}

# stop_pid NAME PID COMM: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
	local name="$1" pid="$2" comm="$3" i
	pid_is "$pid" "$comm" || return 0
	log "stopping ${name} (pid ${pid})"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		pid_is "$pid" "$comm" || return 0
		sleep 0.1
	done
	log "${name} (pid ${pid}) ignored SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

APT_UPDATED=0
apt_install() {
	local -a sudo=()
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			die "$EXIT_PREREQ" "missing $*; run as root (or with password-less sudo) to apt-get install it, or install it yourself"
		fi
	fi
	command -v apt-get >/dev/null 2>&1 || die "$EXIT_PREREQ" "missing $* and apt-get is not available; install it yourself"
	if ((APT_UPDATED == 0)); then
		log "apt-get update"
		"${sudo[@]}" apt-get update -qq >&2 9>&- || die "$EXIT_PREREQ" "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
		</dev/null >&2 9>&- || die "$EXIT_PREREQ" "apt-get install $* failed"
}

tool_path() {
	local path
	path="$("$TOOLS_SH" "$1" 9>&-)" || die "$EXIT_PREREQ" "could not install $1 (deploy/local/tools.sh $1)"
	printf '%s' "$path"
}

# ---------------------------------------------------------------- PostgreSQL

pg_bindir() {
	local dir
	dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
	[[ -n "$dir" ]] || return 1
	printf '%s' "$dir"
}

pg_tool() {
	local dir
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	elif dir="$(pg_bindir)" && [[ -x "${dir}/$1" ]]; then
		printf '%s\n' "${dir}/$1"
	else
		return 1
	fi
}

pg_answers() {
	local isready
	if isready="$(pg_tool pg_isready)"; then
		"$isready" -q -h "$HOST" -p "$PG_PORT" -t 2
	else
		tcp_open "$HOST" "$PG_PORT"
	fi
}

# as_pg runs a PostgreSQL server tool as user postgres when we are root (postgres
# refuses to run as root), from / so that an unreadable working directory does not matter.
as_pg() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# pg_base_dir picks (once) where our own cluster lives: <stack>/postgres when user
# postgres can reach it, otherwise a folder under /var/tmp (e.g. when the repo is under /root).
pg_base_dir() {
	local record="${RUN_DIR}/postgres.dir" base
	if [[ -s "$record" ]]; then
		cat "$record"
		return
	fi
	base="${STACK_DIR}/postgres"
	if ((EUID == 0)) && ! runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
		base="/var/tmp/userimport-stack-$(printf '%s' "$STACK_DIR" | cksum | cut -d' ' -f1)/postgres"
		log "user postgres cannot reach ${STACK_DIR}; keeping the cluster in ${base}"
	fi
	printf '%s\n' "$base" >"$record"
	printf '%s\n' "$base"
}

pg_ours_running() {
	local data
	[[ -s "${RUN_DIR}/postgres.data" ]] || return 1
	data="$(<"${RUN_DIR}/postgres.data")"
	local pg_ctl
	pg_ctl="$(pg_tool pg_ctl)" || return 1
	as_pg "$pg_ctl" -D "$data" status >/dev/null 2>&1
}

start_postgres() {
	local bindir base data
	if ! bindir="$(pg_bindir)"; then
		apt_install postgresql
		# Debian's package may start its own cluster on 5432; then that is the one to use.
		if pg_answers; then
			log "postgres: the freshly installed cluster answers on ${HOST}:${PG_PORT}; reusing it"
			return 0
		fi
		bindir="$(pg_bindir)" || die "$EXIT_PREREQ" "no PostgreSQL server binaries under /usr/lib/postgresql after installing"
	fi
	if ((EUID == 0)) && ! id postgres >/dev/null 2>&1; then
		log "creating system user postgres"
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
	fi

	base="$(pg_base_dir)"
	data="${base}/data"
	mkdir -p "$base"
	chmod 700 "$base"
	if ((EUID == 0)); then
		chown postgres: "$base"
	fi
	if [[ ! -s "${data}/PG_VERSION" ]]; then
		log "postgres: initdb ${data}"
		as_pg "${bindir}/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
			>"${base}/initdb.log" 2>&1 9>&- || {
			show_log_tail "${base}/initdb.log"
			die "$EXIT_FAIL" "initdb failed"
		}
	fi
	log "postgres: starting ${bindir}/postgres on ${HOST}:${PG_PORT} (log ${base}/postgres.log)"
	printf '%s\n' "$data" >"${RUN_DIR}/postgres.data"
	if ! as_pg "${bindir}/pg_ctl" -D "$data" -l "${base}/postgres.log" -w -t 60 \
		-o "-p ${PG_PORT} -c listen_addresses=${HOST} -c unix_socket_directories=''" start \
		</dev/null >&2 9>&-; then
		show_log_tail "${base}/postgres.log"
		die "$EXIT_FAIL" "postgres did not start"
	fi
	wait_for postgres 30 "" pg_answers || die "$EXIT_FAIL" "postgres does not answer on ${HOST}:${PG_PORT}"
}

psql_admin() {
	local psql
	psql="$(pg_tool psql)" || {
		apt_install postgresql-client
		psql="$(pg_tool psql)" || die "$EXIT_PREREQ" "psql not found"
	}
	"$psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres -d postgres "$@" </dev/null
}

ensure_database() {
	local exists
	exists="$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'")" ||
		die "$EXIT_FAIL" "cannot connect to postgres as user postgres on ${HOST}:${PG_PORT}"
	if [[ "$exists" == 1 ]]; then
		log "postgres: database ${DB_NAME} exists"
		return 0
	fi
	if psql_admin -c "CREATE DATABASE ${DB_NAME}" >/dev/null 2>&1; then
		log "postgres: created database ${DB_NAME}"
		return 0
	fi
	# Lost a race with someone else creating it?
	exists="$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'")" || true
	[[ "$exists" == 1 ]] || die "$EXIT_FAIL" "could not create database ${DB_NAME}"
}

up_postgres() {
	if pg_answers; then
		if pg_ours_running; then
			log "postgres: running (started earlier by stack.sh)"
		else
			rm -f "${RUN_DIR}/postgres.data"
			log "postgres: reusing the server on ${HOST}:${PG_PORT}"
		fi
	else
		start_postgres
	fi
	ensure_database
}

down_postgres() {
	local data pg_ctl
	[[ -s "${RUN_DIR}/postgres.data" ]] || return 0
	data="$(<"${RUN_DIR}/postgres.data")"
	if pg_ours_running; then
		pg_ctl="$(pg_tool pg_ctl)"
		log "stopping postgres (${data})"
		as_pg "$pg_ctl" -D "$data" -m fast -w -t 60 stop >&2 9>&- || die "$EXIT_FAIL" "pg_ctl stop failed"
	fi
	rm -f "${RUN_DIR}/postgres.data"
}

# ---------------------------------------------------------------- Redis

redis_answers() {
	if command -v redis-cli >/dev/null 2>&1; then
		[[ "$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
	else
		# shellcheck disable=SC2016 # expanded by the inner bash
		timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "PING\r\n" >&3 && IFS= read -r l <&3 && [[ $l == +PONG* ]]' \
			_ "$HOST" "$REDIS_PORT" 2>/dev/null
	fi
}

up_redis() {
	if redis_answers; then
		if recorded_pid redis redis-server >/dev/null; then
			log "redis: running (started earlier by stack.sh)"
		else
			rm -f "${RUN_DIR}/redis.pid"
			log "redis: reusing the server on ${HOST}:${REDIS_PORT}"
		fi
		return 0
	fi
	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis-server
		if redis_answers; then
			log "redis: the freshly installed server answers on ${HOST}:${REDIS_PORT}; reusing it"
			return 0
		fi
	fi
	mkdir -p "${STACK_DIR}/redis"
	rm -f "${RUN_DIR}/redis.pid"
	log "redis: starting on ${HOST}:${REDIS_PORT}, no persistence (log ${STACK_DIR}/redis.log)"
	redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
		--daemonize yes --pidfile "${RUN_DIR}/redis.pid" --logfile "${STACK_DIR}/redis.log" \
		--dir "${STACK_DIR}/redis" --save '' --appendonly no \
		</dev/null >&2 9>&- || {
		show_log_tail "${STACK_DIR}/redis.log"
		die "$EXIT_FAIL" "redis-server failed"
	}
	if ! wait_for redis 15 "" redis_answers; then
		show_log_tail "${STACK_DIR}/redis.log"
		die "$EXIT_FAIL" "redis does not answer on ${HOST}:${REDIS_PORT}"
	fi
}

down_redis() {
	local pid
	if pid="$(recorded_pid redis redis-server)"; then
		stop_pid redis "$pid" redis-server
	fi
	rm -f "${RUN_DIR}/redis.pid"
}

# ---------------------------------------------------------------- versitygw (S3)

s3_health() { curl -fsS -o /dev/null --max-time 2 "${S3_URL}/health" 2>/dev/null; }

# s3_curl signs a request without a body with SigV4. versitygw requires the
# x-amz-content-sha256 header, which curl < 8 does not add by itself: it is the
# SHA-256 of the empty payload.
s3_curl() {
	curl -sS --max-time 15 --aws-sigv4 "aws:amz:${S3_REGION}:s3" --user "${S3_ACCESS_KEY}:${S3_SECRET_KEY}" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}

# start_daemon NAME LOG CMD...: runs CMD in its own session, detached from our
# stdout (so `eval "$(stack.sh up)"` returns), and records its pid.
start_daemon() {
	local name="$1" logfile="$2"
	shift 2
	setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
	local pid=$!
	printf '%s\n' "$pid" >"${RUN_DIR}/${name}.pid"
	# setsid execs the command directly (a background job of a script is not a
	# process-group leader), so $! is the daemon's own pid; wait_for watches it.
	STARTED_PID="$pid"
}

up_versitygw() {
	local pid bin logfile="${STACK_DIR}/versitygw.log"
	if s3_health; then
		if pid="$(recorded_pid versitygw versitygw)"; then
			log "versitygw: running (started earlier by stack.sh, pid ${pid})"
		else
			rm -f "${RUN_DIR}/versitygw.pid"
			log "versitygw: reusing the server on ${S3_URL}"
		fi
	else
		if pid="$(recorded_pid versitygw versitygw)"; then
			# Ours, but not healthy: replace it.
			stop_pid versitygw "$pid" versitygw
		fi
		bin="$(tool_path versitygw)"
		mkdir -p "${STACK_DIR}/s3"
		log "versitygw: starting on ${S3_URL}, data ${STACK_DIR}/s3 (log ${logfile})"
		start_daemon versitygw "$logfile" \
			env -u ROOT_ACCESS_KEY_ID -u ROOT_SECRET_ACCESS_KEY \
			ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
			"$bin" --port "${HOST}:${S3_PORT}" --health /health --quiet posix "${STACK_DIR}/s3"
		if ! wait_for versitygw 30 "$STARTED_PID" s3_health; then
			show_log_tail "$logfile"
			die "$EXIT_FAIL" "versitygw does not answer on ${S3_URL}/health"
		fi
	fi
	ensure_bucket
}

ensure_bucket() {
	local code body
	body="$(mktemp)"
	# ListBuckets first: proves the server accepts the stack's credentials.
	code="$(s3_curl -o "$body" -w '%{http_code}' "${S3_URL}/")" || code=000
	if [[ "$code" != 200 ]]; then
		log "ListBuckets on ${S3_URL} answered HTTP ${code}:"
		cat "$body" >&2 || true
		rm -f "$body"
		if [[ "$code" == 5* ]]; then
			# Seen with a versitygw whose data directory was deleted under it
			# (a checkout removed while its stack still ran): healthy, but every
			# request fails.
			die "$EXIT_FAIL" "the S3 server on ${S3_URL} answers its health check but fails requests (HTTP ${code}); if its data directory is gone, stop it and run \`$0 up\` again"
		fi
		die "$EXIT_FAIL" "the S3 server on ${S3_URL} does not accept the stack's credentials (access key ${S3_ACCESS_KEY}); if it is not the stack's, stop it and run \`$0 up\` again"
	fi
	code="$(s3_curl -o /dev/null -w '%{http_code}' -I "${S3_URL}/${S3_BUCKET}")" || code=000
	if [[ "$code" == 200 ]]; then
		log "versitygw: bucket ${S3_BUCKET} exists"
		rm -f "$body"
		return 0
	fi
	code="$(s3_curl -o "$body" -w '%{http_code}' -X PUT "${S3_URL}/${S3_BUCKET}")" || code=000
	if [[ "$code" == 200 ]]; then
		log "versitygw: created bucket ${S3_BUCKET}"
	elif [[ "$code" == 409 ]] && grep -q 'BucketAlreadyOwnedByYou' "$body"; then
		log "versitygw: bucket ${S3_BUCKET} already owned by us"
	else
		log "CreateBucket answered HTTP ${code}:"
		cat "$body" >&2 || true
		rm -f "$body"
		die "$EXIT_FAIL" "could not create bucket ${S3_BUCKET} on ${S3_URL}"
	fi
	rm -f "$body"
}

down_versitygw() {
	local pid
	if pid="$(recorded_pid versitygw versitygw)"; then
		stop_pid versitygw "$pid" versitygw
	fi
	rm -f "${RUN_DIR}/versitygw.pid"
}

# ---------------------------------------------------------------- mailpit

mailpit_ready() { curl -fsS -o /dev/null --max-time 2 "${MAILPIT_URL}/readyz" 2>/dev/null; }

up_mailpit() {
	local pid bin logfile="${STACK_DIR}/mailpit.log"
	if mailpit_ready; then
		if pid="$(recorded_pid mailpit mailpit)"; then
			log "mailpit: running (started earlier by stack.sh, pid ${pid})"
		else
			rm -f "${RUN_DIR}/mailpit.pid"
			log "mailpit: reusing the server on ${MAILPIT_URL}"
		fi
		return 0
	fi
	if pid="$(recorded_pid mailpit mailpit)"; then
		stop_pid mailpit "$pid" mailpit
	fi
	bin="$(tool_path mailpit)"
	log "mailpit: starting SMTP ${HOST}:${SMTP_PORT}, HTTP ${MAILPIT_URL} (log ${logfile})"
	start_daemon mailpit "$logfile" \
		"$bin" --smtp "${HOST}:${SMTP_PORT}" --listen "${HOST}:${MAILPIT_PORT}" \
		--database "${STACK_DIR}/mailpit.db" --disable-version-check \
		--smtp-auth-accept-any --smtp-auth-allow-insecure
	if ! wait_for mailpit 30 "$STARTED_PID" mailpit_ready; then
		show_log_tail "$logfile"
		die "$EXIT_FAIL" "mailpit does not answer on ${MAILPIT_URL}/readyz"
	fi
}

down_mailpit() {
	local pid
	if pid="$(recorded_pid mailpit mailpit)"; then
		stop_pid mailpit "$pid" mailpit
	fi
	rm -f "${RUN_DIR}/mailpit.pid"
}

# ---------------------------------------------------------------- commands

cmd_up() {
	init_stack_dir
	local start="${EPOCHREALTIME/./}"
	up_postgres
	up_redis
	up_versitygw
	up_mailpit
	# Not a service: the Prometheus end-to-end test runs its own prometheus.
	log "prometheus: $(tool_path prometheus) (for the end-to-end test; not started)"
	log "ready in $(((${EPOCHREALTIME/./} - start) / 1000)) ms (stack dir ${STACK_DIR})"
	print_env
}

cmd_down() {
	init_stack_dir
	down_mailpit
	down_versitygw
	down_redis
	down_postgres
	log "stopped what stack.sh had started; data kept in ${STACK_DIR}"
}

# status_line SERVICE ADDR ORIGIN CHECK...: prints one line; fails when CHECK fails.
status_line() {
	local svc="$1" addr="$2" origin="$3"
	shift 3
	if "$@"; then
		printf '%-10s up (%s)  %s\n' "$svc" "$origin" "$addr"
	else
		printf '%-10s down  %s\n' "$svc" "$addr"
		return 1
	fi
}

cmd_status() {
	STACK_DIR="${STACK_DIR:-${REPO_DIR}/.stack}"
	RUN_DIR="${STACK_DIR}/run"
	local rc=0 origin pid
	origin=reused
	if pg_ours_running; then origin="started, data $(<"${RUN_DIR}/postgres.data")"; fi
	status_line postgres "${HOST}:${PG_PORT}" "$origin" pg_answers || rc=1
	origin=reused
	if pid="$(recorded_pid redis redis-server)"; then origin="started, pid ${pid}"; fi
	status_line redis "${HOST}:${REDIS_PORT}" "$origin" redis_answers || rc=1
	origin=reused
	if pid="$(recorded_pid versitygw versitygw)"; then origin="started, pid ${pid}"; fi
	status_line versitygw "${S3_URL}" "$origin" s3_health || rc=1
	origin=reused
	if pid="$(recorded_pid mailpit mailpit)"; then origin="started, pid ${pid}"; fi
	status_line mailpit "${MAILPIT_URL}, smtp ${HOST}:${SMTP_PORT}" "$origin" mailpit_ready || rc=1
	return "$rc"
}

main() {
	if (($# != 1)); then
		usage >&2
		exit "$EXIT_USAGE"
	fi
	case "$1" in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status || exit "$EXIT_FAIL" ;;
	env) print_env ;;
	-h | --help | help) usage ;;
	*)
		log "unknown command: $1"
		usage >&2
		exit "$EXIT_USAGE"
		;;
	esac
}

main "$@"
