#!/usr/bin/env bash
# bench-dns.sh — DNS load benchmark of the overwatch against a baseline.
#
# Builds scripts/baseline-dns (a minimal miekg/dns server answering from a
# map) and the opengslb binary, then runs dnsperf against each in turn,
# alternating baseline, overwatch, baseline, overwatch, … so drift of the
# machine hits both alike. Both answer the same names with the same records
# (scripts/bench/baseline-names.txt mirrors scripts/bench/overwatch.toml);
# the query mix is scripts/bench/queries.txt (about 70% A, 20% AAAA, 10%
# NXDOMAIN). Only one server runs during each measurement.
#
# It prints each run's QPS and the ratio overwatch/baseline of the means.
# It exits non-zero on errors (build, start-up, dnsperf failure), never
# because the ratio is low: the number is for people to read and compare.
#
# DNSSEC mode (BENCH_DNSSEC=1) skips the baseline: it starts one overwatch
# (which signs its zone ahead of time; DNSSEC is on by default) and runs
# dnsperf against that same process alternately without the DO bit and with
# it (dnsperf -D), plain, DO, plain, DO, … It first checks with one
# `dig +dnssec` query that the answer carries an RRSIG, and fails if not. It
# prints each run's QPS and the ratio DO/plain of the means (goal >= 0.90,
# for information only: it never fails on the ratio). The plain runs send
# the same queries as the default mode (no EDNS); the DO runs carry an OPT
# record with DO set.
#
# Everything listens on and is sent to 127.0.0.1 only.
#
# Environment:
#   BENCH_SECONDS      length of each dnsperf run (default 10)
#   BENCH_ROUNDS       baseline+overwatch pairs to run (default 2)
#   BENCH_CLIENTS      dnsperf -c, client sockets (default 4)
#   BENCH_THREADS      dnsperf -T (default 1: on 2 cores the other is the server's)
#   BENCH_OUTSTANDING  dnsperf -q, queries in flight (default 100)
#   BENCH_BASELINE_ONLY=1  skip the overwatch (to check the tooling alone)
#   BENCH_DNSSEC=1     instead of the baseline server, compare the overwatch
#                      answering with the DO bit (dnsperf -D: signed answers,
#                      RRSIGs and NSEC3 proofs) against the same without it
#                      (the issue's goal: DO at >= 90% of the unsigned rate);
#                      BENCH_ROUNDS is then the number of plain+DO pairs
#   BENCH_KEEP=1       keep the temporary directory with logs and binaries
#   OPENGSLB_BIN       run this opengslb binary instead of building ./cmd/opengslb
#
# Usage: scripts/bench-dns.sh        (or: make bench-dns)
#        BENCH_DNSSEC=1 scripts/bench-dns.sh
set -euo pipefail

SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-2}"
CLIENTS="${BENCH_CLIENTS:-4}"
THREADS="${BENCH_THREADS:-1}"
OUTSTANDING="${BENCH_OUTSTANDING:-100}"
BASELINE_ONLY="${BENCH_BASELINE_ONLY:-0}"
DNSSEC="${BENCH_DNSSEC:-0}"

BASELINE_ADDR=127.0.0.1:15400
OVERWATCH_ADDR=127.0.0.1:15300 # must match [dns] listen_address in overwatch.toml

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/scripts/bench"
QUERIES="$BENCH/queries.txt"
cd "$ROOT"

log() { printf 'bench-dns: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for v in SECONDS_PER_RUN ROUNDS CLIENTS THREADS OUTSTANDING; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ "$DNSSEC" == 0 || "$DNSSEC" == 1 ]] || die "BENCH_DNSSEC must be 0 or 1, got '$DNSSEC'"
[[ "$DNSSEC" == 0 || "$BASELINE_ONLY" != 1 ]] || die "BENCH_DNSSEC=1 measures the overwatch; it cannot be combined with BENCH_BASELINE_ONLY=1"

# --- clean-up: stop what we started, by pid --------------------------------

TMP="$(mktemp -d "${TMPDIR:-/tmp}/opengslb-bench.XXXXXX")"
SERVER_PID=""

stop_server() {
	local pid="$SERVER_PID"
	SERVER_PID=""
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		# Bounded wait for an orderly exit, then force it.
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid did not stop on SIGTERM within 5s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	stop_server
	if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -----------------------------------------------------------------

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

if ! command -v dnsperf >/dev/null; then
	log "installing dnsperf"
	export DEBIAN_FRONTEND=noninteractive
	# Try the package lists we have; refresh them only if that fails.
	if ! as_root apt-get install -y -qq dnsperf >"$TMP/apt.log" 2>&1; then
		as_root apt-get update -qq >>"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log" >&2; die "apt-get update failed"; }
		as_root apt-get install -y -qq dnsperf >>"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log" >&2; die "cannot install dnsperf"; }
	fi
fi
command -v go >/dev/null || die "go not found in PATH"
if [[ "$DNSSEC" == 1 ]]; then
	command -v dig >/dev/null || die "BENCH_DNSSEC=1 needs dig (bind9-dnsutils) to check the answers are signed"
fi
[[ -r "$QUERIES" ]] || die "missing $QUERIES"

# --- build -----------------------------------------------------------------

log "building into $TMP"
go build -o "$TMP/baseline-dns" ./scripts/baseline-dns || die "cannot build scripts/baseline-dns"
go build -o "$TMP/waitdns" ./scripts/bench/waitdns || die "cannot build scripts/bench/waitdns"
OPENGSLB="$TMP/opengslb"
if [[ "$BASELINE_ONLY" == 1 ]]; then
	:
elif [[ -n "${OPENGSLB_BIN:-}" ]]; then
	[[ -x "$OPENGSLB_BIN" ]] || die "OPENGSLB_BIN=$OPENGSLB_BIN is not an executable"
	OPENGSLB="$OPENGSLB_BIN"
else
	go build -o "$OPENGSLB" ./cmd/opengslb || die "cannot build ./cmd/opengslb"
fi

# The overwatch gets its own data directory for this run.
sed "s|^data_dir = .*|data_dir = \"$TMP/data\"|" "$BENCH/overwatch.toml" >"$TMP/overwatch.toml"
mkdir -p "$TMP/data"

# --- running one server ----------------------------------------------------

port_of() { printf '%s' "${1##*:}"; }

# start_server NAME ADDR CMD... — starts CMD in the background, logging to
# $TMP/NAME.log, and returns once it answers a query (bounded: 30 s).
start_server() {
	local name="$1" addr="$2"
	shift 2
	# The servers use SO_REUSEPORT, so a leftover server on the same port
	# would not make ours fail: it would silently share the load instead.
	if "$TMP/waitdns" -q -server "$addr" -name webapp.gslb.example.com -timeout 300ms 2>/dev/null; then
		die "something already answers DNS on $addr; stop it first"
	fi
	"$@" >"$TMP/$name.log" 2>&1 &
	SERVER_PID=$!
	local i
	for i in $(seq 60); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			wait "$SERVER_PID" 2>/dev/null || true
			SERVER_PID=""
			log "$name exited during start-up; its log:"
			tail -n 30 "$TMP/$name.log" >&2
			die "$name did not start"
		fi
		if "$TMP/waitdns" -q -server "$addr" -name webapp.gslb.example.com -type A -timeout 500ms 2>"$TMP/waitdns.err"; then
			# Make sure it is our process answering, not something already on the port.
			sleep 0.2
			kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited right after start-up (port $addr already in use?); see $TMP/$name.log"
			return 0
		fi
	done
	log "$name log:"
	tail -n 30 "$TMP/$name.log" >&2
	die "$name did not answer on $addr within 30s: $(cat "$TMP/waitdns.err")"
}

# run_dnsperf NAME ADDR OUT [DNSPERF-FLAGS...] — one measurement; prints the QPS.
run_dnsperf() {
	local name="$1" addr="$2" out="$3"
	shift 3
	if ! dnsperf -s 127.0.0.1 -p "$(port_of "$addr")" -d "$QUERIES" \
		-l "$SECONDS_PER_RUN" -c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" "$@" >"$out" 2>&1; then
		cat "$out" >&2
		die "dnsperf against $name failed"
	fi
	kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during the run; see $TMP/$name.log"
	local qps
	qps="$(awk '/Queries per second:/ {print $4}' "$out")"
	[[ "$qps" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { cat "$out" >&2; die "no 'Queries per second:' in dnsperf output for $name"; }
	printf '%s' "$qps"
}

# check_signed ADDR — one `dig +dnssec` query; fails unless the answer
# section holds an RRSIG (so the DO runs measure signed answers).
check_signed() {
	local addr="$1" name=webapp.gslb.example.com out="$TMP/dig-dnssec.txt"
	if ! dig +dnssec +norecurse +time=2 +tries=2 -p "$(port_of "$addr")" @127.0.0.1 "$name" A >"$out" 2>&1; then
		cat "$out" >&2
		die "dig +dnssec against the overwatch on $addr failed"
	fi
	# Answer-section lines: NAME TTL CLASS TYPE RDATA; look for TYPE RRSIG.
	if ! awk '/^;; ANSWER SECTION:/ {a = 1; next} /^$/ {a = 0} a && $4 == "RRSIG" {found = 1} END {exit !found}' "$out"; then
		cat "$out" >&2
		die "the overwatch's answer to 'dig +dnssec $name A' has no RRSIG: DNSSEC signing is off or broken, so the DO runs would not measure signed answers"
	fi
	log "dig +dnssec $name A: answer carries $(awk '/^;; ANSWER SECTION:/ {a = 1; next} /^$/ {a = 0} a && $4 == "RRSIG" {n++} END {print n}' "$out") RRSIG(s)"
}

# --- the runs --------------------------------------------------------------

if [[ "$DNSSEC" == 1 ]]; then
	servers=(plain DO)
	label=query
else
	servers=(baseline)
	[[ "$BASELINE_ONLY" == 1 ]] || servers+=(overwatch)
	label=server
fi

log "dnsperf: ${SECONDS_PER_RUN}s per run, $ROUNDS round(s), -c $CLIENTS -T $THREADS -q $OUTSTANDING, $(wc -l <"$QUERIES") query lines"

declare -a R_NAME R_QPS R_LOST R_CODES R_LAT

record() { # record NAME QPS OUT
	R_NAME+=("$1")
	R_QPS+=("$2")
	R_LOST+=("$(awk '/Queries lost:/ {print $3, $4}' "$3")")
	R_LAT+=("$(awk '/Average Latency/ {print $4}' "$3")")
	R_CODES+=("$(sed -n 's/^ *Response codes: *//p' "$3")")
}

if [[ "$DNSSEC" == 1 ]]; then
	# One overwatch process for all runs: plain and DO hit the same process.
	addr="$OVERWATCH_ADDR"
	start_server overwatch "$addr" "$OPENGSLB" overwatch --config "$TMP/overwatch.toml"
	check_signed "$addr"
	for round in $(seq "$ROUNDS"); do
		for name in "${servers[@]}"; do
			flags=()
			[[ "$name" == DO ]] && flags=(-D)
			out="$TMP/dnsperf-overwatch-$name-$round.txt"
			log "round $round: overwatch on $addr, $name queries${flags[*]:+ (dnsperf ${flags[*]})}"
			qps="$(run_dnsperf "overwatch ($name)" "$addr" "$out" "${flags[@]}")"
			record "$name" "$qps" "$out"
		done
	done
	stop_server
else
	for round in $(seq "$ROUNDS"); do
		for name in "${servers[@]}"; do
			case "$name" in
			baseline)
				addr="$BASELINE_ADDR"
				start_server baseline "$addr" "$TMP/baseline-dns" -listen "$addr" -names "$BENCH/baseline-names.txt"
				;;
			overwatch)
				addr="$OVERWATCH_ADDR"
				start_server overwatch "$addr" "$OPENGSLB" overwatch --config "$TMP/overwatch.toml"
				;;
			esac
			out="$TMP/dnsperf-$name-$round.txt"
			log "round $round: $name on $addr"
			qps="$(run_dnsperf "$name" "$addr" "$out")"
			stop_server
			record "$name" "$qps" "$out"
		done
	done
fi

# --- report ----------------------------------------------------------------

echo
printf '%-6s %-10s %12s %14s %12s  %s\n' run "$label" QPS lost "avg lat (s)" "response codes"
for i in "${!R_NAME[@]}"; do
	printf '%-6s %-10s %12.0f %14s %12s  %s\n' "$((i / ${#servers[@]} + 1))" "${R_NAME[$i]}" "${R_QPS[$i]}" "${R_LOST[$i]}" "${R_LAT[$i]}" "${R_CODES[$i]}"
done

mean() { # mean NAME: mean QPS of that server's runs
	local name="$1" i
	for i in "${!R_NAME[@]}"; do
		if [[ "${R_NAME[$i]}" == "$name" ]]; then printf '%s\n' "${R_QPS[$i]}"; fi
	done | awk '{s += $1; n++} END {if (n) printf "%.0f", s / n}'
}

warn_errors() { # warn_errors NAME WHAT: warn if NAME's runs got error rcodes
	local i
	for i in "${!R_NAME[@]}"; do
		if [[ "${R_NAME[$i]}" == "$1" && "${R_CODES[$i]}" =~ SERVFAIL|REFUSED|FORMERR ]]; then
			log "warning: $2 answered errors (${R_CODES[$i]}): the ratio may not compare like with like"
			break
		fi
	done
}

echo
if [[ "$DNSSEC" == 1 ]]; then
	plain_mean="$(mean plain)"
	do_mean="$(mean DO)"
	printf '%-22s %12s QPS\n' "plain mean" "$plain_mean" "DO mean" "$do_mean"
	awk -v d="$do_mean" -v p="$plain_mean" 'BEGIN {printf "%-22s %12.2f   (goal >= 0.90, information only)\n", "ratio DO/plain", (p > 0 ? d / p : 0)}'
	warn_errors plain "the overwatch (plain queries)"
	warn_errors DO "the overwatch (DO queries)"
	exit 0
fi

base_mean="$(mean baseline)"
printf '%-22s %12s QPS\n' "baseline mean" "$base_mean"
if [[ "$BASELINE_ONLY" != 1 ]]; then
	ow_mean="$(mean overwatch)"
	printf '%-22s %12s QPS\n' "overwatch mean" "$ow_mean"
	awk -v o="$ow_mean" -v b="$base_mean" 'BEGIN {printf "%-22s %12.2f\n", "ratio overwatch/base", (b > 0 ? o / b : 0)}'
	warn_errors overwatch "the overwatch"
fi
