#!/usr/bin/env bash
# bench/https.sh — HTTPS through hotswap's proxy against nginx with the same
# certificate and the same backend, in one run on one machine:
#
#   h1         wrk, HTTP/1.1 over TLS, keep-alive            (requests/s)
#   h2         h2load, HTTP/2, one stream at a time per conn (requests/s)
#   handshake  wrk with "Connection: close": a full TLS handshake per request
#              (new connections/s)
#
# at each connection count (32 and 128; the handshake at 32 only), with the
# proxy's CPU per request. Both proxies keep a keep-alive pool to the one
# backend (the sample app deployed by hotswap), use an ECDSA P-256
# certificate made here, and offer TLS 1.2 and 1.3.
#
# Usage: bench/https.sh           (root, or wrk, nginx and h2load installed)
#   DURATION=10s CONNS="32 128" ROUNDS=1 THREADS=2 NGINX_WORKERS=$(nproc)
#   (with ROUNDS > 1 the table shows medians; every run is in runs.tsv)
#
# Everything listens on 127.0.0.1. The trap stops, by PID, only what this
# script started (the daemon, the backend it deployed, nginx) and removes
# the temporary directory. The machine may be shared: each line records the
# load average so disturbed runs can be told apart.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"32 128"}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-$(nproc)}
[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "DURATION is whole seconds, like 10s" >&2; exit 2; }
SECS=${DURATION%s}
HOST_HDR=bench.local

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/bench/out}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$OUT/https-raw-$STAMP
REPORT=$OUT/https-results-$STAMP.md

log() { printf '[https-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK="" HS_PID="" NGX_PID="" NGX_CHILDREN="" BACKEND_PID=""
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
	local rc=$?
	set +e
	stop_started
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_missing wrk=wrk h2load=nghttp2-client nginx=nginx
for c in go curl ss awk openssl; do command -v "$c" >/dev/null || die "$c is required"; done

WORK=$(mktemp -d /tmp/hs-https-bench.XXXXXX)
chmod 0755 "$WORK"
mkdir -p "$RAW"
BIN=$WORK/hotswap
log "building hotswap"
(cd "$REPO" && timeout 300 go build -o "$BIN" ./cmd/hotswap)

# One certificate for both proxies: ECDSA P-256, self-signed, for the host
# and 127.0.0.1 (h2load sends no SNI for an IP: both serve it by default).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$HOST_HDR" \
	-addext "subjectAltName=DNS:$HOST_HDR,IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 0644 "$WORK/key.pem" # nginx workers run as nobody

wait_https() { # URL SECONDS
	local deadline=$((SECONDS + $2))
	until curl -fsSk -o /dev/null --max-time 1 "$1" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

HS_PORT=$(free_port) HS_TLS=$(free_port)
mkdir -p "$WORK/state"
cat >"$WORK/hotswap.yaml" <<EOF
state_dir: $WORK/state
proxy:
  listen: 127.0.0.1:$HS_PORT
  tls:
    listen: 127.0.0.1:$HS_TLS
    certificates: [{cert: $WORK/cert.pem, key: $WORK/key.pem}]
control:
  socket: $WORK/hotswap.sock
services:
  - name: bench
    hosts: [$HOST_HDR, 127.0.0.1]
    runtime: process
    process:
      command: ["$BIN", sampleapp, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 1s, timeout: 1s, healthy_threshold: 1, deadline: 20s}
EOF
log "starting hotswap (https on 127.0.0.1:$HS_TLS)"
"$BIN" serve -c "$WORK/hotswap.yaml" --log-level warn >"$WORK/hotswap.log" 2>&1 &
HS_PID=$!
wait_https "https://127.0.0.1:$HS_TLS/_hotswap/up" 30 || { cat "$WORK/hotswap.log" >&2; die "hotswap did not come up"; }
deploy_backend "$BIN" "$WORK/hotswap.yaml" bench

NGX_PORT=$(free_port)
NGX=$WORK/nginx
mkdir -p "$NGX"
{
	nginx_head "$NGX" "$NGINX_WORKERS"
	cat <<EOF
    server {
        listen 127.0.0.1:$NGX_PORT ssl http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
EOF
	nginx_location
	printf '    }\n}\n'
} >"$NGX/nginx.conf"
"$NGINX" -t -q -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" || die "nginx config test failed"
"$NGINX" -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" &
NGX_PID=$!
wait_https "https://127.0.0.1:$NGX_PORT/" 15 || { cat "$NGX/error.log" >&2; die "nginx did not come up"; }
NGX_CHILDREN=$(ps -o pid= --ppid "$NGX_PID" | tr -s ' \n' ' ')

declare -A PORT=([nginx]=$NGX_PORT [hotswap]=$HS_TLS)
for p in nginx hotswap; do
	for v in --http1.1 --http2; do
		got=$(curl -fsSk $v --max-time 2 "https://127.0.0.1:${PORT[$p]}/") || die "$p $v: request failed"
		[[ $got == v1 ]] || die "$p $v: expected v1, got '$got'"
	done
done

pids_of() { [[ $1 == nginx ]] && echo "$NGX_PID $NGX_CHILDREN" || echo "$HS_PID"; }
TICK=$(getconf CLK_TCK)

# measure PATH MODE CONNS FILE: prints "requests_per_s requests errors"
measure() {
	local url="https://127.0.0.1:${PORT[$1]}/"
	case $2 in
	h1) timeout $((SECS + 60)) wrk -t"$THREADS" -c"$3" -d"$DURATION" "$url" >"$4"
		awk '/^Requests\/sec:/ {r = $2} /requests in/ {n = $1} /Non-2xx/ {e += $NF}
			/Socket errors/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print r, n, e + 0}' "$4" ;;
	handshake) timeout $((SECS + 60)) wrk -t"$THREADS" -c"$3" -d"$DURATION" -H "Connection: close" "$url" >"$4"
		awk '/^Requests\/sec:/ {r = $2} /requests in/ {n = $1} /Non-2xx/ {e += $NF}
			/Socket errors/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print r, n, e + 0}' "$4" ;;
	h2) timeout $((SECS + 60)) h2load -t"$THREADS" -c"$3" -m1 -D"$SECS" --warm-up-time=1 "$url" >"$4"
		awk '/^finished in/ {gsub(/,/, ""); r = $4} /^requests:/ {n = $8; e = $10 + $12} END {print r, n, e + 0}' "$4" ;;
	esac
}

printf 'round\tmode\tconns\tpath\trps\trequests\terrors\tproxy_cpu_us_req\tloadavg\n' >"$RAW/runs.tsv"
for ((r = 1; r <= ROUNDS; r++)); do
	for mode in h1 h2 handshake; do
		for c in $CONNS; do
			[[ $mode == handshake && $c != "${CONNS%% *}" ]] && continue
			for p in nginx hotswap; do
				pids=$(pids_of "$p")
				t0=$(cpu_ticks $pids)
				read -r rps n errs < <(measure "$p" "$mode" "$c" "$RAW/r$r-$mode-c$c-$p.txt")
				t1=$(cpu_ticks $pids)
				cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$TICK" 'BEGIN {printf "%.1f", (n > 0 ? d / hz * 1e6 / n : 0)}')
				la=$(cut -d' ' -f1 /proc/loadavg)
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$mode" "$c" "$p" "$rps" "$n" "$errs" "$cpu" "$la" >>"$RAW/runs.tsv"
				log "round $r $mode c=$c $p: $rps req/s, $errs errors, proxy CPU ${cpu}us/req, load $la"
			done
		done
	done
done

{
	echo "## HTTPS run $STAMP"
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), shared with other work"
	echo "- $(go version | cut -d' ' -f3), $("$NGINX" -v 2>&1 | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version 2>&1 | head -1)"
	echo "- hotswap $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'); ECDSA P-256 certificate; $DURATION per cell, $ROUNDS round(s); nginx worker_processes $NGINX_WORKERS"
	echo
	echo "| mode | conns | nginx req/s | hotswap req/s | hotswap/nginx | nginx CPU µs/req | hotswap CPU µs/req | errors (n/h) | load avg |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	# Medians over the rounds; errors summed; the highest load average seen.
	awk -F'\t' '
	function med(list,    n, v, i, j, t) {
		n = split(list, v, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	NR > 1 { k = $2 " " $3; rps[k, $4] = rps[k, $4] " " $5; cpu[k, $4] = cpu[k, $4] " " $8; err[k, $4] += $7
		if ($9 + 0 > la[k] + 0) la[k] = $9
		if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
	END { for (i = 1; i <= n; i++) { k = order[i]; split(k, a, " ")
		rn = med(rps[k, "nginx"]); rh = med(rps[k, "hotswap"])
		printf "| %s | %s | %.0f | %.0f | %.2f | %.1f | %.1f | %d/%d | %s |\n", a[1], a[2], rn, rh,
			(rn > 0 ? rh / rn : 0), med(cpu[k, "nginx"]), med(cpu[k, "hotswap"]), err[k, "nginx"], err[k, "hotswap"], la[k] } }' "$RAW/runs.tsv"
	echo
	echo "Raw output: $RAW"
} | tee "$REPORT"
