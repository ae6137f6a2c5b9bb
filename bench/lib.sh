# bench/lib.sh — helpers shared by bench/run.sh and bench/https.sh. Sourced,
# not run; the caller defines log and die.

# install_missing CMD=PACKAGE ...: installs (apt-get, as root) the Debian
# packages whose command is missing; nginx counts as present at
# /usr/sbin/nginx too. Sets NGINX to the nginx binary. Note: on a systemd
# host the nginx package's postinst starts nginx.service on port 80; the
# scripts never use or touch it.
install_missing() {
	local need=() pair
	for pair in "$@"; do
		command -v "${pair%%=*}" >/dev/null && continue
		[[ ${pair%%=*} == nginx && -x /usr/sbin/nginx ]] && continue
		need+=("${pair#*=}")
	done
	if ((${#need[@]})); then
		[[ $(id -u) -eq 0 ]] || die "missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}"
		log "installing ${need[*]} (apt-get)"
		timeout 600 apt-get update -qq
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# stop_pid PID NAME: SIGTERM, wait up to 5 s, then SIGKILL.
stop_pid() {
	local pid=$1 name=$2 i
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	log "$name (pid $pid) ignored SIGTERM for 5s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

# stop_started: stops what a bench script started, by the PIDs it recorded
# (nginx master and workers, the daemon, and the backend it deployed, which
# outlives the daemon by design) and removes its work directory.
stop_started() {
	stop_pid "$NGX_PID" "nginx master"
	for p in $NGX_CHILDREN; do stop_pid "$p" "nginx worker"; done
	stop_pid "$HS_PID" "hotswap daemon"
	stop_pid "$BACKEND_PID" "backend"
	[[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
}

# free_port: a port no socket uses now (tiny race window; loopback only),
# below the kernel's ephemeral range, so that the client ends of earlier
# connections (or those in TIME_WAIT) cannot be holding it.
free_port() {
	local p i lo
	lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	((lo > 12000)) || lo=32768
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (lo - 10000)))
		[[ -z $(ss -Htan "sport = :$p") ]] && { echo "$p"; return; }
	done
	die "no free port found"
}

# cpu_ticks PID...: user+system clock ticks consumed so far by those processes.
cpu_ticks() {
	local t=0 p v
	for p in "$@"; do
		v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# deploy_backend BIN CONFIG SERVICE: deploys v1 of SERVICE through the
# running daemon and sets BACKEND (the live instance's address) and
# BACKEND_PID (only if that process really is BIN's sample app, so the
# caller's trap never stops anything else).
deploy_backend() {
	local bin=$1 cfg=$2 svc=$3 pid
	timeout 60 "$bin" -c "$cfg" deploy "$svc" v1 >"$WORK/deploy.log" 2>&1 ||
		{ cat "$WORK/deploy.log" "$WORK/hotswap.log" >&2; die "deploy failed"; }
	BACKEND=$(timeout 10 "$bin" -c "$cfg" status --json "$svc" |
		grep -o '"live":{[^}]*"addr":"[^"]*"' | grep -o '"addr":"[^"]*"' | cut -d'"' -f4)
	[[ $BACKEND == 127.0.0.1:* ]] || die "could not read live.addr from hotswap status (got '$BACKEND')"
	pid=$(ss -Htlnp "sport = :${BACKEND##*:}" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
	if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^$bin sampleapp "; then
		BACKEND_PID=$pid
	else
		log "warning: could not identify the backend's pid; it will not be stopped at exit"
	fi
}

# nginx_head DIR WORKERS: the start of a private nginx config (never the
# system service) up to and including the opening of the http block, with
# steady-state keep-alive on both sides, like hotswap (Go's server and
# hotswap's pool have no per-connection request cap; nginx's default is
# 1000 requests, after which it would reconnect), and an upstream "backend"
# with a keep-alive pool to $BACKEND.
nginx_head() {
	local dir=$1 workers=$2
	cat <<EOF2
# Private instance for bench/; never the system service.
daemon off;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    upstream backend {
        server $BACKEND;
        keepalive 512;
        keepalive_requests 1000000;
    }
EOF2
}

# nginx_location: the proxying location, with the forwarding headers hotswap adds.
nginx_location() {
	cat <<'EOF2'
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
        }
EOF2
}

# --- used by bench/pinned.sh and bench/idle.sh ---------------------------------

# hs_config BIN DIR PORT: a daemon config serving the sample app as service
# "bench" on host bench.local behind 127.0.0.1:PORT.
hs_config() {
	local bin=$1 dir=$2 port=$3
	mkdir -p "$dir/state"
	cat >"$dir/hotswap.yaml" <<EOF2
state_dir: $dir/state
proxy:
  listen: 127.0.0.1:$port
control:
  socket: $dir/hotswap.sock
services:
  - name: bench
    hosts: [bench.local]
    runtime: process
    process:
      command: ["$bin", sampleapp, --port, "{port}", --version, "{version}"]
    health:
      path: /health
      interval: 1s
      timeout: 1s
      healthy_threshold: 1
      deadline: 20s
EOF2
}

# start_hotswap BIN DIR PORT [PREFIX...]: starts `hotswap serve` on DIR's
# config under PREFIX (e.g. taskset -c 0 env GOMAXPROCS=1), sets HS_PID and
# waits until the proxy answers.
start_hotswap() {
	local bin=$1 dir=$2 port=$3 deadline
	shift 3
	"$@" "$bin" serve -c "$dir/hotswap.yaml" --log-level warn >>"$dir/hotswap.log" 2>&1 &
	HS_PID=$!
	deadline=$((SECONDS + 30))
	until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/_hotswap/up" 2>/dev/null; do
		((SECONDS < deadline)) || { cat "$dir/hotswap.log" >&2; die "hotswap did not come up"; }
		sleep 0.1
	done
}

# start_nginx DIR PORT WORKERS CONNS [PREFIX...]: a private nginx proxying
# 127.0.0.1:PORT to $BACKEND with WORKERS workers of CONNS connections
# each; sets NGX_PID and NGX_CHILDREN.
start_nginx() {
	local dir=$1 port=$2 workers=$3 conns=$4 deadline
	shift 4
	mkdir -p "$dir"
	{
		nginx_head "$dir" "$workers" | sed "s/worker_connections 4096;/worker_connections $conns;/"
		printf '    server {\n        listen 127.0.0.1:%s;\n        server_name bench.local;\n' "$port"
		nginx_location
		printf '    }\n}\n'
	} >"$dir/nginx.conf"
	"$NGINX" -t -q -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" || die "nginx config test failed"
	"$@" "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" &
	NGX_PID=$!
	deadline=$((SECONDS + 15))
	until curl -fsS -o /dev/null --max-time 1 -H "Host: bench.local" "http://127.0.0.1:$port/" 2>/dev/null; do
		((SECONDS < deadline)) || { cat "$dir/error.log" >&2; die "nginx did not come up"; }
		sleep 0.1
	done
	NGX_CHILDREN=$(ps -o pid= --ppid "$NGX_PID" | tr -s ' \n' ' ')
}

# rss_kib PID...: resident set size of those processes, summed, in KiB.
rss_kib() {
	local t=0 p v
	for p in "$@"; do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# median N...: the median of the numbers given.
median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
