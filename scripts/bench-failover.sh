#!/usr/bin/env bash
# bench-failover.sh — how long a failing backend stays in OpenGSLB's answers.
#
# Builds the opengslb binary and scripts/bench/failover (a small Go driver)
# and runs the driver: two overwatches and one agent on 127.0.0.1, the
# agent checking two HTTP backends of the driver (127.0.0.2, 127.0.0.3)
# every 1s with failure_threshold 2 and heartbeating every 10s. Over TRIALS
# trials it makes 127.0.0.2 fail and measures
#
#   (a) the flip → the moment every overwatch stops answering it
#       (each overwatch's DNS polled every 10ms), and
#   (b) the agent's verdict → that moment: the part after the agent has
#       decided (gossip to both overwatches, zone rebuild). The agent's
#       log has second-precision timestamps, so the verdict is taken from
#       its API (GET /api/v1/agent/backends polled every 5ms showing the
#       backend unhealthy); (c) repeats (b) from the moment the backend
#       served the last failing probe the verdict needs.
#
# and prints min/p50/p90/p99/max of each. The backend recovers between
# trials; the next one starts once every overwatch serves it again. Before
# each trial the failing backend moves to a new port and the agent is
# restarted with it (see scripts/bench/failover: otherwise (b) keeps one
# phase against memberlist's 200ms gossip tick and repeats one value). It
# exits non-zero on errors (build, start-up, a trial that never ends),
# never because a figure is high: the numbers are for people to read.
#
# Environment:
#   TRIALS          failovers to measure (default 20)
#   BENCH_KEEP=1    keep the temporary directory with configurations and logs
#   OPENGSLB_BIN    run this opengslb binary instead of building ./cmd/opengslb
#   FAILOVER_FLAGS  extra flags for the driver (e.g. "-interval 500ms -failures 3";
#                   "-restart-every 0" keeps one agent and port for all trials)
#
# Usage: scripts/bench-failover.sh
set -euo pipefail

TRIALS="${TRIALS:-20}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench-failover: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ "$TRIALS" =~ ^[1-9][0-9]*$ ]] || die "TRIALS must be a positive integer, got '$TRIALS'"
command -v go >/dev/null || die "go not found in PATH"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/opengslb-failover.XXXXXX")"
DRIVER_PID=""

cleanup() {
	local rc=$?
	if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
		# The driver stops its own children on SIGTERM.
		kill -TERM "$DRIVER_PID" 2>/dev/null || true
		wait "$DRIVER_PID" 2>/dev/null || true
	fi
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

log "building into $TMP"
go build -o "$TMP/failover" ./scripts/bench/failover || die "cannot build scripts/bench/failover"
OPENGSLB="$TMP/opengslb"
if [[ -n "${OPENGSLB_BIN:-}" ]]; then
	[[ -x "$OPENGSLB_BIN" ]] || die "OPENGSLB_BIN=$OPENGSLB_BIN is not an executable"
	OPENGSLB="$OPENGSLB_BIN"
else
	go build -o "$OPENGSLB" ./cmd/opengslb || die "cannot build ./cmd/opengslb"
fi

mkdir -p "$TMP/run"
# shellcheck disable=SC2086 # FAILOVER_FLAGS is a list of flags
"$TMP/failover" -opengslb "$OPENGSLB" -trials "$TRIALS" -dir "$TMP/run" ${FAILOVER_FLAGS:-} &
DRIVER_PID=$!
rc=0
wait "$DRIVER_PID" || rc=$?
DRIVER_PID=""
if [[ $rc -ne 0 ]]; then
	[[ "${BENCH_KEEP:-0}" == 1 ]] || log "rerun with BENCH_KEEP=1 to keep the processes' logs"
	die "the driver failed (exit $rc)"
fi
