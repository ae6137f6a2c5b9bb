#!/usr/bin/env bash
# bench/idle.sh — memory per idle keep-alive connection: hotswap's proxy
# against nginx, in one run, against one backend.
#
# A small Go client (bench/idleclient) opens N connections to the proxy,
# sends one GET on each, reads the answer and then holds them idle — the
# state of a site with many WebSocket/SSE-style or simply idle keep-alive
# clients. The script records the proxy's RSS (hotswap: the daemon process;
# nginx: master + workers) before, while the N connections are held (after
# SETTLE seconds), and 5 s after the client closed them all. Each proxy is
# restarted before each round (fresh process; the daemon re-adopts the
# backend), so every round is a first burst.
#
# Usage:  bench/idle.sh                 # N=10000, 3 rounds, order rotated
#         N=2000 ROUNDS=1 bench/idle.sh
# Knobs:  N (connections, default 10000), ROUNDS (3), SETTLE (2 s),
#         AFTER (5 s after close), LATE (0: off; else also the RSS this
#         many seconds after close — Go returns memory only after a GC,
#         forced at the latest every 2 minutes), NGINX_WORKERS (1), OUT
#
# ulimit -n: the client and each proxy need N + a few hundred descriptors;
# the script raises its soft limit to the hard one and refuses to start
# when that is below N + 200. Everything listens on 127.0.0.1; every wait
# has a deadline; the trap stops exactly what the script started, by PID.
set -euo pipefail

N=${N:-10000}
ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-2}
AFTER=${AFTER:-5}
LATE=${LATE:-0}
NGINX_WORKERS=${NGINX_WORKERS:-1}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/bench/out}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT=$OUT/idle-$STAMP.md

log() { printf '[idle %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK="" HS_PID="" NGX_PID="" NGX_CHILDREN="" BACKEND_PID="" CLIENT_PID=""
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
	local rc=$?
	set +e
	stop_pid "$CLIENT_PID" idleclient
	stop_started
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= N + 200)) || die "ulimit -n is $(ulimit -n); need at least $((N + 200)) (raise the hard limit)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for c in go curl ss awk "$NGINX"; do command -v "$c" >/dev/null || die "$c is required"; done

WORK=$(mktemp -d /tmp/hs-idle.XXXXXX)
chmod 0755 "$WORK"
mkdir -p "$OUT"
BIN=$WORK/hotswap
log "building hotswap and bench/idleclient"
(cd "$REPO" && timeout 300 go build -o "$BIN" ./cmd/hotswap && timeout 300 go build -o "$WORK/idleclient" ./bench/idleclient)

HS_PORT=$(free_port)
hs_config "$BIN" "$WORK" "$HS_PORT"
start_hotswap "$BIN" "$WORK" "$HS_PORT"
deploy_backend "$BIN" "$WORK/hotswap.yaml" bench
NGX_PORT=$(free_port)
start_nginx "$WORK/nginx" "$NGX_PORT" "$NGINX_WORKERS" $((N + 1000))
log "hotswap pid $HS_PID on :$HS_PORT, nginx pid $NGX_PID (+ $NGX_CHILDREN) on :$NGX_PORT, backend $BACKEND"

# fresh PROXY: every round measures a freshly started proxy, so memory kept
# from an earlier round cannot hide what a first burst of connections costs
# (the daemon re-adopts the running backend across its restart).
fresh() {
	case $1 in
	hotswap)
		stop_pid "$HS_PID" "hotswap daemon"
		start_hotswap "$BIN" "$WORK" "$HS_PORT"
		local deadline=$((SECONDS + 30))
		until [[ $(curl -fsS --max-time 1 -H 'Host: bench.local' "http://127.0.0.1:$HS_PORT/" 2>/dev/null) == v1 ]]; do
			((SECONDS < deadline)) || die "hotswap does not serve v1 after restart"
			sleep 0.2
		done
		;;
	nginx)
		stop_pid "$NGX_PID" "nginx master"
		local w
		for w in $NGX_CHILDREN; do stop_pid "$w" "nginx worker"; done
		start_nginx "$WORK/nginx" "$NGX_PORT" "$NGINX_WORKERS" $((N + 1000))
		;;
	esac
	sleep 1
}

pids_of() { case $1 in hotswap) echo "$HS_PID" ;; nginx) echo "$NGX_PID $NGX_CHILDREN" ;; esac; }
port_of() { case $1 in hotswap) echo "$HS_PORT" ;; nginx) echo "$NGX_PORT" ;; esac; }

printf 'round\tproxy\trss_before_kib\trss_held_kib\trss_after_kib\tkib_per_conn\tkept_after_close_kib\trss_late_kib\n' >"$WORK/idle.tsv"
ORDERS=("hotswap nginx" "nginx hotswap")
for ((r = 1; r <= ROUNDS; r++)); do
	for p in ${ORDERS[$(((r - 1) % 2))]}; do
		((r == 1)) || fresh "$p"
		pids=$(pids_of "$p")
		before=$(rss_kib $pids)
		rm -f "$WORK/client.out"
		"$WORK/idleclient" -addr "127.0.0.1:$(port_of "$p")" -n "$N" -hold 120s >"$WORK/client.out" 2>&1 &
		CLIENT_PID=$!
		deadline=$((SECONDS + 90))
		until grep -qs '^READY' "$WORK/client.out"; do
			kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$WORK/client.out" >&2; die "idleclient failed against $p"; }
			((SECONDS < deadline)) || die "idleclient did not get $N connections to $p within 90 s"
			sleep 0.2
		done
		sleep "$SETTLE"
		held=$(rss_kib $pids)
		kill -USR1 "$CLIENT_PID"
		wait "$CLIENT_PID" || true
		CLIENT_PID=""
		sleep "$AFTER"
		after=$(rss_kib $pids)
		late=-
		if ((LATE > AFTER)); then
			sleep $((LATE - AFTER))
			late=$(rss_kib $pids)
		fi
		per=$(awk -v h="$held" -v b="$before" -v n="$N" 'BEGIN {printf "%.2f", (h - b) / n}')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$before" "$held" "$after" "$per" $((after - before)) "$late" >>"$WORK/idle.tsv"
		log "round $r $p: RSS before ${before} KiB, with $N idle ${held} KiB (${per} KiB/conn), ${AFTER}s after close ${after} KiB, ${LATE}s after close ${late} KiB"
	done
done

{
	echo "## Idle connections, run $STAMP"
	echo
	echo "- machine: $(nproc) CPUs, kernel $(uname -r); $(go version | cut -d' ' -f3); $("$NGINX" -v 2>&1 | cut -d' ' -f3) with worker_processes $NGINX_WORKERS"
	echo "- hotswap $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet || echo ' + uncommitted changes'); N=$N idle keep-alive connections, each after one GET; RSS ${SETTLE}s after the last connected and ${AFTER}s after close"
	echo
	echo "| round | proxy | RSS before KiB | RSS with $N idle KiB | RSS ${AFTER}s after close KiB | KiB per idle conn | kept after close KiB | RSS ${LATE}s after close KiB |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' 'NR > 1 {printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}' "$WORK/idle.tsv"
	echo
	for p in hotswap nginx; do
		echo "- $p: median KiB per idle connection $(median $(awk -F'\t' -v p="$p" '$2 == p {print $6}' "$WORK/idle.tsv"))"
	done
} | tee "$REPORT"
log "report written to $REPORT"
