#!/usr/bin/env bash
# bench/run.sh — requests/s and p50/p99 latency through hotswap's proxy,
# through nginx, and straight to the backend, in one run on one machine.
#
# Why this shape: the only honest proxy comparison is a relative one, taken
# minutes apart on the same box against the same backend. So the script
# starts ONE backend (the sample app, deployed by hotswap itself), points
# nginx and the "direct" path at the very address hotswap's live instance
# listens on, and measures the three paths in rotating order, several rounds,
# reporting medians and the per-round hotswap/nginx ratio.
#
# Usage (from anywhere; needs root only if wrk or nginx must be installed):
#   bench/run.sh                     # 3 rounds x {direct,nginx,hotswap} x {32,128} x 10s
#   ROUNDS=1 DURATION=5s bench/run.sh
#   PROFILE=1 bench/run.sh           # plus a perf profile of both proxies at 32 conns
#   ROUNDS=0 PROFILE=1 bench/run.sh  # the profile only
#
# Knobs (environment):
#   DURATION=10s    wrk -d per measurement
#   CONNS="32 128"  connection counts
#   THREADS=2       wrk -t
#   ROUNDS=3        repetitions of the whole matrix (medians are reported)
#   WARMUP=3s       wrk run per path before measuring
#   NGINX_WORKERS   nginx worker_processes (default: nproc, what "auto" picks)
#   QUIET_WAIT=30   seconds to wait, before each measurement, for the rest of
#                   the machine to go idle (< 0.3 core busy); then go anyway
#   OTHER_MAX=0.25  runs during which other processes used this many cores
#                   or more are left out of the medians ("disturbed")
#   PROFILE=0       1: after measuring, perf-record hotswap and nginx during
#                   one extra 32-connection run each: CPU per request split by
#                   call stack, top symbols, and syscalls per request
#   OUT=bench/out   where results-<date>.md, profiles and raw wrk outputs go
#
# Each run's CPU per request (proxy, backend, wrk) and "other load" (machine
# busy time not spent in those three, in cores) is recorded in runs.tsv: on a
# shared machine that is what tells a clean run from a disturbed one.
#
# Everything listens on 127.0.0.1 only. Every wait has a deadline. On exit
# (normal, error or Ctrl-C) the trap stops exactly the processes this script
# started — the hotswap daemon, the backend it deployed (found by its port and
# checked to be our own binary) and the nginx master with its workers — by
# PID, and removes the temporary directory.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"32 128"}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3s}
NGINX_WORKERS=${NGINX_WORKERS:-$(nproc)}
PROFILE=${PROFILE:-0}
QUIET_WAIT=${QUIET_WAIT:-30}
OTHER_MAX=${OTHER_MAX:-0.25}
[[ $DURATION =~ ^[0-9]+s$ && $WARMUP =~ ^[0-9]+s$ ]] || { echo "DURATION and WARMUP are whole seconds, like 10s" >&2; exit 2; }
HOST_HDR=bench.local

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/bench/out}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$OUT/raw-$STAMP
REPORT=$OUT/results-$STAMP.md

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- cleanup: only what we started, by PID --------------------------------
WORK=""
HS_PID=""
NGX_PID=""
NGX_CHILDREN=""
BACKEND_PID=""
PERF_PID=""

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
	local rc=$?
	set +e
	stop_pid "$PERF_PID" perf
	stop_started
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites ----------------------------------------------------------
# Debian bookworm's nginx-light is a transitional package that pulls in
# "nginx" (plus the echo module); install nginx itself.
install_missing wrk=wrk nginx=nginx
for c in go curl ss awk; do command -v "$c" >/dev/null || die "$c is required"; done

WORK=$(mktemp -d /tmp/hs-bench.XXXXXX)
chmod 0755 "$WORK" # nginx workers run as nobody and need to reach their temp dirs
mkdir -p "$RAW"
BIN=$WORK/hotswap

log "building hotswap"
# The proxy changes between commits and in working trees: fingerprint the
# sources the binary was built from so a result can be tied to them.
PROXY_SUM=$(cat "$REPO"/internal/proxy/*.go | sha256sum | cut -c1-12)
(cd "$REPO" && timeout 300 go build -o "$BIN" ./cmd/hotswap)

wait_http() { # wait_http URL SECONDS: until URL answers 2xx
	local url=$1 deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null --max-time 1 -H "Host: $HOST_HDR" "$url" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# --- hotswap daemon + the one backend --------------------------------------
HS_PORT=$(free_port)
hs_config "$BIN" "$WORK" "$HS_PORT"
log "starting hotswap serve on 127.0.0.1:$HS_PORT"
start_hotswap "$BIN" "$WORK" "$HS_PORT"

log "deploying the sample app (v1) through hotswap"
deploy_backend "$BIN" "$WORK/hotswap.yaml" bench
log "backend (sample app) on $BACKEND, pid ${BACKEND_PID:-?}"

# --- nginx, on its own config and prefix -------------------------------------
NGX_PORT=$(free_port)
NGX=$WORK/nginx
mkdir -p "$NGX"
{
	nginx_head "$NGX" "$NGINX_WORKERS"
	cat <<EOF
    server {
        listen 127.0.0.1:$NGX_PORT;
        server_name $HOST_HDR;
EOF
	nginx_location
	printf '    }\n}\n'
} >"$NGX/nginx.conf"
"$NGINX" -t -q -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" || die "nginx config test failed"
log "starting nginx ($NGINX_WORKERS workers) on 127.0.0.1:$NGX_PORT"
"$NGINX" -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" &
NGX_PID=$!
wait_http "http://127.0.0.1:$NGX_PORT/" 15 || { cat "$NGX/error.log" >&2; die "nginx did not come up"; }
NGX_CHILDREN=$(ps -o pid= --ppid "$NGX_PID" | tr -s ' \n' ' ')

# --- sanity: all three paths reach the same backend -------------------------
declare -A URL=(
	[direct]="http://$BACKEND/"
	[nginx]="http://127.0.0.1:$NGX_PORT/"
	[hotswap]="http://127.0.0.1:$HS_PORT/"
)
for p in direct nginx hotswap; do
	got=$(curl -fsS --max-time 2 -H "Host: $HOST_HDR" "${URL[$p]}") || die "$p: request failed"
	[[ $got == v1 ]] || die "$p: expected v1, got '$got'"
done

# --- measuring ----------------------------------------------------------------
proxy_pids() {
	case $1 in
	direct) echo "" ;;
	nginx) echo "$NGX_PID $NGX_CHILDREN" ;;
	hotswap) echo "$HS_PID" ;;
	esac
}
# to_ms VALUE: wrk's "812.00us" / "1.23ms" / "2.01s" in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}
TICK=$(getconf CLK_TCK)

run_wrk() { # run_wrk PATH CONNS DURATION FILE
	timeout $((${3%s} + 60)) wrk -t"$THREADS" -c"$2" -d"$3" --latency -H "Host: $HOST_HDR" "${URL[$1]}" >"$4"
}
# machine_ticks: busy clock ticks of the whole machine so far, all CPUs.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# times_ticks FILE: the "children" line of bash's `times` (reaped children's
# user+sys, i.e. wrk's CPU once it exited) in clock ticks.
times_ticks() {
	awk -v hz="$TICK" 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }' "$1"
}
# wait_quiet: the machine is shared; before each measurement wait (up to
# QUIET_WAIT s) until everything else uses less than 0.3 of a core, and
# print how busy it was, in cores, over the last second.
wait_quiet() {
	local deadline=$((SECONDS + QUIET_WAIT)) m0 m1 busy
	while :; do
		m0=$(machine_ticks)
		sleep 1
		m1=$(machine_ticks)
		busy=$(awk -v d=$((m1 - m0)) -v hz="$TICK" 'BEGIN {printf "%.2f", d / hz}')
		if awk -v b="$busy" 'BEGIN {exit !(b < 0.3)}' || ((SECONDS >= deadline)); then
			echo "$busy"
			return
		fi
	done
}

log "warm-up: $WARMUP per path"
for p in direct nginx hotswap; do run_wrk "$p" 32 "$WARMUP" "$RAW/warmup-$p.txt"; done

printf 'round\tpath\tconns\trps\tp50_ms\tp99_ms\tproxy_cpu_us_req\tbackend_cpu_us_req\twrk_cpu_us_req\tother_cores\tbusy_before_cores\terrors\n' >"$RAW/runs.tsv"
ORDERS=("direct nginx hotswap" "hotswap nginx direct" "nginx hotswap direct")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
secs=${DURATION%s}
for ((r = 1; r <= ROUNDS; r++)); do
	order=${ORDERS[$(((r - 1) % ${#ORDERS[@]}))]}
	for c in $CONNS; do
		for p in $order; do
			f=$RAW/r$r-$p-c$c.txt
			pids=$(proxy_pids "$p")
			idle_busy=$(wait_quiet)
			t0=$(cpu_ticks $pids)
			b0=$(cpu_ticks $BACKEND_PID)
			m0=$(machine_ticks)
			times >"$WORK/times0"
			run_wrk "$p" "$c" "$DURATION" "$f"
			times >"$WORK/times1"
			m1=$(machine_ticks)
			t1=$(cpu_ticks $pids)
			b1=$(cpu_ticks $BACKEND_PID)
			w=$(($(times_ticks "$WORK/times1") - $(times_ticks "$WORK/times0")))
			rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
			p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
			p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
			reqs=$(awk '/requests in/ {print $1}' "$f")
			errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$f")
			per_req() { awk -v d="$1" -v n="$reqs" -v hz="$TICK" 'BEGIN {printf "%.1f", d / hz * 1e6 / n}'; }
			cpu="-" bcpu="-" wcpu="-"
			if ((reqs > 0)); then
				[[ -n $pids ]] && cpu=$(per_req $((t1 - t0)))
				[[ -n $BACKEND_PID ]] && bcpu=$(per_req $((b1 - b0)))
				wcpu=$(per_req "$w")
			fi
			# CPU used by everything else on the machine during the run, in
			# cores (machine busy minus wrk, backend and proxy): contamination.
			other=$(awk -v d=$((m1 - m0 - w - (b1 - b0) - (t1 - t0))) -v hz="$TICK" -v s="$secs" 'BEGIN {printf "%.2f", d / hz / s}')
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$c" "$rps" "$p50" "$p99" \
				"$cpu" "$bcpu" "$wcpu" "$other" "$idle_busy" "$errs" >>"$RAW/runs.tsv"
			log "round $r c=$c $p: $rps req/s p50 ${p50}ms p99 ${p99}ms; CPU/req proxy ${cpu}us backend ${bcpu}us wrk ${wcpu}us; other load ${other} cores (idle before ${idle_busy}); errors $errs"
		done
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# summarise runs.tsv: per path and conns the medians over the runs that
# were not disturbed (other load < OTHER_MAX cores); when every run of a cell
# was disturbed, all runs are used and the cell is marked "*".
summarise() {
	awk -F'\t' -v conns="$CONNS" -v omax="$OTHER_MAX" '
	function med(list,    n, a, i, j, t) {
		n = split(list, a, " ")
		if (n == 0) return "-"
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(arr, k, v) { if (v != "-") arr[k] = arr[k] " " v }
	NR == 1 { next }
	{
		k = $2 SUBSEP $3
		clean = ($10 + 0 < omax)
		add(all_rps, k, $4); add(all_p50, k, $5); add(all_p99, k, $6); add(all_cpu, k, $7); add(all_bcpu, k, $8); add(all_oth, k, $10)
		n_all[k]++
		if (clean) { add(c_rps, k, $4); add(c_p50, k, $5); add(c_p99, k, $6); add(c_cpu, k, $7); add(c_bcpu, k, $8); add(c_oth, k, $10); n_clean[k]++ }
		errs[k] += $12
		round_rps[$1, $2, $3] = $4; round_clean[$1, $2, $3] = clean
		if ($1 > rounds) rounds = $1
	}
	END {
		np = split("direct nginx hotswap", paths, " ")
		nc = split(conns, cs, " ")
		print "| path | conns | requests/s | p50 ms | p99 ms | proxy CPU µs/req | backend CPU µs/req | other load (cores) | runs used | errors |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (ci = 1; ci <= nc; ci++) for (pi = 1; pi <= np; pi++) {
			k = paths[pi] SUBSEP cs[ci]
			if (n_clean[k] > 0) { r = c_rps[k]; p5 = c_p50[k]; p9 = c_p99[k]; cp = c_cpu[k]; bc = c_bcpu[k]; ot = c_oth[k]; used = n_clean[k] "/" n_all[k] }
			else { r = all_rps[k]; p5 = all_p50[k]; p9 = all_p99[k]; cp = all_cpu[k]; bc = all_bcpu[k]; ot = all_oth[k]; used = "0/" n_all[k] " *" }
			mr[k] = med(r)
			cpv = med(cp); bcv = med(bc)
			printf "| %s | %s | %.0f | %.2f | %.2f | %s | %s | %.2f | %s | %d |\n", paths[pi], cs[ci], mr[k], med(p5), med(p9),
				cpv == "-" ? "-" : sprintf("%.1f", cpv), bcv == "-" ? "-" : sprintf("%.1f", bcv), med(ot), used, errs[k]
		}
		print ""
		print "| conns | hotswap/nginx requests/s (of the medians above) | per round (* = a run of the pair was disturbed) |"
		print "|---:|---:|---|"
		for (ci = 1; ci <= nc; ci++) {
			c = cs[ci]; per = ""
			for (r = 1; r <= rounds; r++) {
				if (round_rps[r, "nginx", c] == "") continue
				per = per sprintf("%.2f%s ", round_rps[r, "hotswap", c] / round_rps[r, "nginx", c],
					(round_clean[r, "hotswap", c] && round_clean[r, "nginx", c]) ? "" : "*")
			}
			printf "| %s | **%.2f** | %s|\n", c, mr["hotswap" SUBSEP c] / mr["nginx" SUBSEP c], per
		}
	}' "$RAW/runs.tsv"
}

((ROUNDS > 0)) && {
	echo "## Run $STAMP"
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
	echo "- $(go version | cut -d' ' -f3-), $("$NGINX" -v 2>&1 | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "- hotswap $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO" && git diff --quiet 2>/dev/null || echo ' + uncommitted changes'); internal/proxy sources sha256 $PROXY_SUM"
	echo "- wrk -t$THREADS -d$DURATION --latency -H 'Host: $HOST_HDR', $ROUNDS round(s), medians shown; nginx worker_processes $NGINX_WORKERS"
	echo "- load average before/after: $LOAD_BEFORE / $LOAD_AFTER; runs with other load >= $OTHER_MAX cores are left out of the medians"
	echo
	summarise
	echo
	echo "Raw wrk output and per-run data (runs.tsv): $RAW"
} | tee "$REPORT" && log "report written to $REPORT"

# --- optional profile -----------------------------------------------------------
if [[ $PROFILE == 1 ]]; then
	# Functions whose inclusive share tells where a request's time goes;
	# a trailing * matches a prefix.
	declare -A SELECT=(
		[hotswap]="net/http.(*conn).serve net/http.(*conn).readRequest net/http.(*response).finishRequest
			net/http.(*chunkWriter).writeHeader net/http.ReadResponse github.com/hotswap/hotswap/internal/proxy.*
			context.AfterFunc internal/poll.setDeadlineImpl runtime.gcBgMarkWorker runtime.mallocgc
			runtime.schedule runtime.findRunnable runtime.netpoll runtime.park_m runtime.mcall
			syscall.read syscall.write entry_SYSCALL_64_after_hwframe __vdso_clock_gettime runtime.morestack"
		[nginx]="ngx_worker_process_cycle ngx_process_events_and_timers ngx_epoll_process_events
			ngx_http_upstream_* ngx_http_process_request* ngx_http_read_request_header ngx_http_parse_*
			ngx_http_proxy_* ngx_http_write_filter ngx_linux_sendfile_chain __libc_recv __GI___writev
			getsockopt epoll_wait entry_SYSCALL_64_after_hwframe malloc free"
	)
	# Stack classification: each sample goes to the first rule whose
	# patterns all (&) or any (,) appear as frames in its stack; "[k]" means
	# the sampled frame itself is in the kernel, a trailing * a prefix, and
	# a lone * anything. One rule per line: label TAB patterns.
	declare -A RULES=(
		[hotswap]="kernel: write response to client	syscall.write&net/http.(*response).finishRequest
kernel: write request to backend	syscall.write&github.com/hotswap/hotswap/internal/proxy.(*Target).forward
kernel: read from backend (incl. EAGAIN)	syscall.read&github.com/hotswap/hotswap/internal/proxy.(*Target).forward
kernel: read from client (incl. EAGAIN)	syscall.read
kernel: other (epoll, futex, nanosleep, irq)	[k]
Go runtime: allocation and GC	runtime.mallocgc,runtime.gcBgMarkWorker,runtime.gcAssistAlloc,runtime.bgsweep,runtime.bgscavenge
Go runtime: scheduler (park, wake, netpoll)	runtime.mcall,runtime.schedule,runtime.findRunnable,runtime.park_m,runtime.goready,runtime.newproc,runtime.netpoll,runtime.ready,runtime.wakep,runtime.mstart
deadlines and clocks	internal/poll.setDeadlineImpl,__vdso_clock_gettime,time.Now
proxy: parse response head	github.com/hotswap/hotswap/internal/proxy.readHead
proxy: the rest (route, request head, headers, pool, stats)	github.com/hotswap/hotswap/internal/proxy.*
net/http server: parse request	net/http.(*conn).readRequest
net/http server: write response	net/http.(*response).finishRequest,net/http.(*chunkWriter).writeHeader,net/http.(*response).WriteHeader
net/http server: the rest (conn loop, contexts, background read)	net/http.*
Go runtime: other	runtime.*
other	*"
		[nginx]="kernel: writev (send request / response)	__GI___writev,writev
kernel: recv	__libc_recv,recv
kernel: epoll_wait	epoll_wait
kernel: getsockopt	getsockopt
kernel: other	[k]
nginx user code + libc	*"
	)
	# classify RULES < perf script -F ip,sym,dso: share of samples per rule.
	classify() {
		awk -v rules="$1" '
		BEGIN { n = split(rules, lines, "\n")
			for (i = 1; i <= n; i++) { split(lines[i], f, "\t"); label[i] = f[1]; pat[i] = f[2] } }
		function decide(   i, ok, alts, a, j, all, b, k) {
			for (i = 1; i <= n; i++) {
				if (pat[i] == "*") return label[i]
				na = split(pat[i], alts, ",")
				for (a = 1; a <= na; a++) {
					nb = split(alts[a], all, "&"); ok = 1
					for (b = 1; b <= nb; b++) {
						if (all[b] == "[k]") { if (!leafk) ok = 0 }
						else if (all[b] ~ /\*$/) { if (index(stack, "|" substr(all[b], 1, length(all[b]) - 1)) == 0) ok = 0 }
						else if (index(stack, "|" all[b] "|") == 0) ok = 0
					}
					if (ok) return label[i]
				}
			}
			return "other"
		}
		BEGIN { stack = "|" }
		/^[^ \t]/ { stack = "|"; depth = 0; next }
		/^[ \t]+[0-9a-f]+ / {
			sym = $2; dso = $NF
			if (depth++ == 0) leafk = (dso ~ /kernel/)
			stack = stack sym "|"; next
		}
		/^$/ { if (depth > 0) { c[decide()]++; total++ } stack = "|"; depth = 0 }
		END { if (depth > 0) { c[decide()]++; total++ }
			for (k in c) printf "%6.1f%%  %s\n", 100 * c[k] / total, k }' | sort -gr
	}
	# pick PATTERNS < perf-report-children: the lines whose symbol matches.
	pick() {
		awk -v pats="$1" 'BEGIN { n = split(pats, p, /[ \t\n]+/) }
			$1 ~ /%$/ { for (i = 1; i <= n; i++) { if (p[i] == "") continue
				if (p[i] ~ /\*$/ ? index($4, substr(p[i], 1, length(p[i]) - 1)) == 1 : $4 == p[i]) {
					sub(/[ -]+$/, ""); print; break } } }'
	}
	command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install linux-perf)"
	for p in hotswap nginx; do
		pids=$(proxy_pids "$p" | tr -s ' ' ',' | sed 's/^,//; s/,$//')
		data=$WORK/$p.perf.data
		log "profiling $p (pids $pids) during a 32-connection run"
		timeout 60 perf record -F 999 -g -p "$pids" -o "$data" -- sleep 8 >/dev/null 2>"$WORK/perf-$p.log" &
		PERF_PID=$!
		t0=$(cpu_ticks ${pids//,/ })
		run_wrk "$p" 32 10s "$RAW/profile-$p-c32.txt"
		t1=$(cpu_ticks ${pids//,/ })
		wait "$PERF_PID" || true
		PERF_PID=""
		reqs=$(awk '/requests in/ {print $1}' "$RAW/profile-$p-c32.txt")
		us=$(awk -v d=$((t1 - t0)) -v n="$reqs" -v hz="$TICK" 'BEGIN {printf "%.1f", d / hz * 1e6 / n}')
		prof=$OUT/profile-$STAMP-$p.txt
		# perf report | head would die of SIGPIPE under pipefail: filter in awk.
		top() { awk -v n="$1" '!/^#/ && NF && c++ < n { sub(/[ -]+$/, ""); print }'; }
		{
			echo "# $p, 32 connections: perf record -F 999 -g -p $pids (8 s); $(awk '/^Requests\/sec:/ {print $2}' "$RAW/profile-$p-c32.txt") req/s while profiled"
			echo "## where the time goes: samples classified by call stack ($p used $us µs CPU per request in this run)"
			perf script -i "$data" -F ip,sym,dso 2>/dev/null | classify "${RULES[$p]}" |
				awk -v us="$us" '{ pct = $1 + 0; printf "%s  %5.1f µs/req  ", $1, pct * us / 100; $1 = ""; sub(/^ /, ""); print }'
			echo "## by shared object"
			perf report -i "$data" --stdio --no-children --sort dso -g none 2>/dev/null | top 12
			echo "## top symbols (self)"
			perf report -i "$data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null | top 45
			perf report -i "$data" --stdio --children --sort symbol -g none 2>/dev/null >"$WORK/children-$p.txt" || true
			echo "## top symbols (children: time under each function)"
			top 45 <"$WORK/children-$p.txt"
			echo "## selected functions (children)"
			pick "${SELECT[$p]}" <"$WORK/children-$p.txt" | top 60
		} >"$prof"
		cp "$WORK/children-$p.txt" "$OUT/profile-$STAMP-$p-children.txt"

		# Syscalls per request: perf trace counts every syscall of the
		# proxy's threads while wrk runs 5 s inside an 8 s window (the idle
		# daemon makes almost none, so the ratio is per request).
		log "counting $p's syscalls during a 5 s 32-connection run"
		timeout 60 perf trace -s -p "$pids" -o "$WORK/trace-$p.txt" -- sleep 8 >/dev/null 2>&1 &
		PERF_PID=$!
		sleep 1 # let perf attach before the load starts
		run_wrk "$p" 32 5s "$RAW/trace-$p-c32.txt"
		wait "$PERF_PID" || true
		PERF_PID=""
		reqs=$(awk '/requests in/ {print $1}' "$RAW/trace-$p-c32.txt")
		{
			echo "## syscalls per request (perf trace -s, summed over threads; $reqs requests)"
			awk -v n="$reqs" '$1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 8 { c[$1] += $2; t += $2 }
				END { for (k in c) if (c[k] / n >= 0.01) printf "%-16s %6.2f\n", k, c[k] / n
					printf "%-16s %6.2f\n", "TOTAL", t / n }' "$WORK/trace-$p.txt" | sort -k2 -gr
		} >>"$prof"
		cat "$prof"
		log "profile written to $prof"
	done
fi
