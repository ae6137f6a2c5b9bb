#!/usr/bin/env bash
# bench/pinned.sh — hotswap against nginx with the proxy on its own core.
#
# bench/run.sh lets every process share both cores, which dilutes the
# proxies' difference with wrk's and the backend's cost. Here the proxy
# gets core 0 alone (taskset) and wrk and the backend share core 1:
#   nginx       worker_processes 1, master and worker on core 0
#   hotswap-g1  the daemon on core 0 with GOMAXPROCS=1
#   hotswap-g2  the daemon with GOMAXPROCS=2 on cores $G2_CPUS (default
#               0,1: a second core for the scheduler to spread onto, shared
#               with wrk and the backend), to see what a second P costs per
#               request
#   direct      wrk → backend (both on core 1), for reference
# One backend (the sample app deployed by the daemon, moved to core 1);
# the daemon is restarted between the g1 and g2 variants and re-adopts it.
# Rounds rotate the order; medians are reported, with the proxies' CPU per
# request (from /proc) and the other load on the machine during each run.
#
# Usage:  bench/pinned.sh                    # 3 rounds x {32,128} conns x 10 s
#         ROUNDS=1 DURATION=5s bench/pinned.sh
# Knobs:  DURATION (10s), CONNS ("32 128"), ROUNDS (3), WARMUP (3s),
#         G2_CPUS (0,1), OUT (bench/out)
# Only 127.0.0.1; every wait has a deadline; the trap stops exactly the
# processes this script started (daemon, backend, nginx), by PID.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"32 128"}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3s}
G2_CPUS=${G2_CPUS:-0,1}
[[ $DURATION =~ ^[0-9]+s$ && $WARMUP =~ ^[0-9]+s$ ]] || { echo "DURATION and WARMUP are whole seconds, like 10s" >&2; exit 2; }
(($(nproc) >= 2)) || { echo "needs 2 CPUs" >&2; exit 2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/bench/out}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT=$OUT/pinned-$STAMP.md

log() { printf '[pinned %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK="" HS_PID="" NGX_PID="" NGX_CHILDREN="" BACKEND_PID=""
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'rc=$?; set +e; stop_started; exit $rc' EXIT
trap 'exit 130' INT TERM

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for c in go curl ss awk wrk taskset "$NGINX"; do command -v "$c" >/dev/null || die "$c is required"; done
WORK=$(mktemp -d /tmp/hs-pinned.XXXXXX)
chmod 0755 "$WORK"
mkdir -p "$OUT"
BIN=$WORK/hotswap
log "building hotswap"
(cd "$REPO" && timeout 300 go build -o "$BIN" ./cmd/hotswap)

HS_PORT=$(free_port)
hs_config "$BIN" "$WORK" "$HS_PORT"
G=""
# daemon G: (re)starts the daemon with GOMAXPROCS=G on its cores and keeps
# the backend (re-adopted across the restart) on core 1.
daemon() {
	[[ $G == "$1" ]] && return
	stop_pid "$HS_PID" "hotswap daemon"
	local cpus=0
	[[ $1 == 2 ]] && cpus=$G2_CPUS
	start_hotswap "$BIN" "$WORK" "$HS_PORT" taskset -c "$cpus" env GOMAXPROCS="$1"
	G=$1
	if [[ -z $BACKEND_PID ]]; then
		deploy_backend "$BIN" "$WORK/hotswap.yaml" bench
		[[ -n $BACKEND_PID ]] || die "backend pid unknown; cannot pin it"
	fi
	local live
	live=$(timeout 10 "$BIN" -c "$WORK/hotswap.yaml" status --json bench | grep -o '"live":{[^}]*"addr":"[^"]*"' | grep -o '"addr":"[^"]*"' | cut -d'"' -f4)
	[[ $live == "$BACKEND" ]] || die "after the restart the live instance is '$live', not the re-adopted $BACKEND"
	taskset -a -p -c 1 "$BACKEND_PID" >/dev/null
	local deadline=$((SECONDS + 30))
	until [[ $(curl -fsS --max-time 1 -H 'Host: bench.local' "http://127.0.0.1:$HS_PORT/" 2>/dev/null) == v1 ]]; do
		((SECONDS < deadline)) || die "hotswap (GOMAXPROCS=$1) does not serve v1 after restart"
		sleep 0.2
	done
}
daemon 1
NGX_PORT=$(free_port)
start_nginx "$WORK/nginx" "$NGX_PORT" 1 4096 taskset -c 0
log "backend $BACKEND (pid $BACKEND_PID, core 1); nginx :$NGX_PORT (core 0); hotswap :$HS_PORT"

TICK=$(getconf CLK_TCK)
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
url_of() { case $1 in direct) echo "http://$BACKEND/" ;; nginx) echo "http://127.0.0.1:$NGX_PORT/" ;; *) echo "http://127.0.0.1:$HS_PORT/" ;; esac; }
pids_of() { case $1 in direct) echo "" ;; nginx) echo "$NGX_PID $NGX_CHILDREN" ;; *) echo "$HS_PID" ;; esac; }
# measure PATH CONNS DURATION: one pinned wrk run; sets ROW (a runs.tsv
# row). Not to be run in a subshell: it may restart the daemon.
measure() {
	local p=$1 c=$2 d=$3 f=$WORK/wrk.txt pids t0 t1 b0 b1 m0 m1 rps reqs p50 p99 cpu other errs
	case $p in hotswap-g1) daemon 1 ;; hotswap-g2) daemon 2 ;; esac
	pids=$(pids_of "$p")
	t0=$(cpu_ticks $pids) b0=$(cpu_ticks "$BACKEND_PID") m0=$(machine_ticks)
	timeout $((${d%s} + 60)) taskset -c 1 wrk -t1 -c"$c" -d"$d" --latency -H 'Host: bench.local' "$(url_of "$p")" >"$f"
	t1=$(cpu_ticks $pids) b1=$(cpu_ticks "$BACKEND_PID") m1=$(machine_ticks)
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
	reqs=$(awk '/requests in/ {print $1}' "$f")
	p50=$(awk '$1 == "50%" {print $2}' "$f") p99=$(awk '$1 == "99%" {print $2}' "$f")
	errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$f")
	cpu=$(awk -v d=$((t1 - t0)) -v n="$reqs" -v hz="$TICK" 'BEGIN {printf "%.1f", n ? d / hz * 1e6 / n : 0}')
	# everything but the proxy and the backend, in cores (wrk is ~1 core at most)
	other=$(awk -v d=$((m1 - m0 - (t1 - t0) - (b1 - b0))) -v hz="$TICK" -v s="${d%s}" 'BEGIN {printf "%.2f", d / hz / s}')
	ROW=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$p" "$c" "$rps" "$p50" "$p99" "$cpu" "$other" "$errs")
}

for p in direct nginx hotswap-g1 hotswap-g2; do measure "$p" 32 "$WARMUP"; done
printf 'round\tpath\tconns\trps\tp50\tp99\tproxy_cpu_us_req\tother_cores\terrors\n' >"$WORK/runs.tsv"
ORDERS=("direct nginx hotswap-g1 hotswap-g2" "hotswap-g2 hotswap-g1 nginx direct" "nginx hotswap-g1 hotswap-g2 direct")
for ((r = 1; r <= ROUNDS; r++)); do
	for c in $CONNS; do
		for p in ${ORDERS[$(((r - 1) % 3))]}; do
			measure "$p" "$c" "$DURATION"
			printf '%s\t%s\n' "$r" "$ROW" >>"$WORK/runs.tsv"
			log "round $r: $ROW"
		done
	done
done
cp "$WORK/runs.tsv" "$OUT/pinned-$STAMP.tsv"

{
	echo "## Pinned cores, run $STAMP"
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r); $(go version | cut -d' ' -f3); $("$NGINX" -v 2>&1 | cut -d' ' -f3)"
	echo "- hotswap $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')$(cd "$REPO" && git diff --quiet 2>/dev/null || echo ' + uncommitted changes'); internal/proxy sha256 $(cat "$REPO"/internal/proxy/*.go | sha256sum | cut -c1-12)"
	echo "- proxy on core 0 (nginx worker_processes 1; hotswap GOMAXPROCS=1; g2: GOMAXPROCS=2 on cores $G2_CPUS); taskset -c 1 wrk -t1 -d$DURATION --latency and the backend on core 1; $ROUNDS round(s), medians"
	echo
	echo "| path | conns | requests/s | p50 | p99 | proxy CPU µs/req | other load (cores, incl. wrk) | errors |"
	echo "|---|---:|---:|---|---|---:|---:|---:|"
	for c in $CONNS; do
		for p in direct nginx hotswap-g1 hotswap-g2; do
			col() { awk -F'\t' -v p="$p" -v c="$c" -v k="$1" '$2 == p && $3 == c {print $k}' "$WORK/runs.tsv"; }
			echo "| $p | $c | $(median $(col 4)) | $(col 5 | tr '\n' ' ')| $(col 6 | tr '\n' ' ')| $(median $(col 7)) | $(median $(col 8)) | $(col 9 | paste -sd+ | bc) |"
		done
	done
	echo
	echo "| conns | hotswap-g1/nginx req/s | hotswap-g1/nginx CPU per req | g2/g1 CPU per req |"
	echo "|---:|---:|---:|---:|"
	for c in $CONNS; do
		m() { median $(awk -F'\t' -v p="$1" -v c="$c" -v k="$2" '$2 == p && $3 == c {print $k}' "$WORK/runs.tsv"); }
		awk -v a="$(m hotswap-g1 4)" -v b="$(m nginx 4)" -v ca="$(m hotswap-g1 7)" -v cb="$(m nginx 7)" -v c2="$(m hotswap-g2 7)" -v c="$c" \
			'BEGIN {printf "| %s | **%.2f** | %.2f× | %.2f× |\n", c, a / b, ca / cb, c2 / ca}'
	done
	echo
	echo "Per-run data: $OUT/pinned-$STAMP.tsv"
} | tee "$REPORT"
log "report written to $REPORT"
