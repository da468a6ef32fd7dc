#!/usr/bin/env bash
# Tollgate against nginx on this machine, both terminating TLS and proxying to the same upstream (a separate
# nginx answering "ok", and a 1 MiB file), with as many workers/loops as cores; nginx with access_log off.
# Each figure is measured for nginx and Tollgate back to back, REPS times in alternating order, and the
# medians are printed with the ratio Tollgate/nginx. Loopback only; every run is bounded in time.
#
#   keep-alive mTLS    wrk -tT -cC over persistent mutual-TLS connections: req/s, p99, proxy CPU per request
#                      (utime+stime from /proc/PID/stat), context switches per request (perf stat, if allowed)
#   ... access log     the same against a second Tollgate writing its access log (to /dev/null)
#   keep-alive SIMPLE  the same over server-only TLS
#   full handshakes    wrk with "Connection: close" and MTLS_NO_RESUME=1: a new connection, full mTLS
#                      handshake and one request each; proxy CPU per handshake
#   resumed            the same, resuming the TLS session each time
#   1 MiB              wrk -t2 -c8 fetching a 1 MiB response over keep-alive mTLS, MiB/s
#   idle memory        RSS growth of the proxy per idle mTLS connection (IDLE connections, handshake done)
#
# wrk presents the client certificate through the LD_PRELOAD shim in ../shared/tools/wrk-client-cert/
# (MTLS_SHIM_SRC overrides its path). The load generator shares the cores with the proxy and the upstream,
# so absolute numbers are low and runs vary: compare the ratios, and the CPU per request.
#
# Usage: Benchmarks/run.sh [--reps 3] [--seconds 10] [--connections 50] [--threads 2] [--idle 2000]
#                          [--only keepalive,simple,full,resumed,mib,idle,log] [--tollgate BIN] [--loops N]
#                          [--raw FILE]   (every run's figures, "figure target metric value" a line, for spreads)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3 DURATION=10 CONNECTIONS=50 THREADS=2 IDLE=2000 ONLY="keepalive,log,simple,full,resumed,mib,idle" BIN="" LOOPS=$(nproc) RAW=""
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2 ;; --seconds) DURATION=$2 ;; --connections) CONNECTIONS=$2 ;; --threads) THREADS=$2 ;;
    --idle) IDLE=$2 ;; --only) ONLY=$2 ;; --tollgate) BIN=$2 ;; --loops) LOOPS=$2 ;; --raw) RAW=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

scripts/install-deps.sh nginx-light wrk gcc
if [ -z "$BIN" ]; then
  swift build -c release --product tollgate >/dev/null
  BIN=$PWD/.build/release/tollgate
fi
SHIM_SRC=${MTLS_SHIM_SRC:-$PWD/../shared/tools/wrk-client-cert/mtls_preload.c}
[ -f "$SHIM_SRC" ] || { echo "the wrk client-certificate shim is missing: $SHIM_SRC (set MTLS_SHIM_SRC)" >&2; exit 2; }

WORK=$(mktemp -d)
chmod 755 "$WORK"  # nginx workers run as nobody and read the upstream's file
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
gcc -O2 -shared -fPIC -o "$WORK/mtls_preload.so" "$SHIM_SRC" -ldl
scripts/gen-certs.sh "$WORK/pki" >/dev/null
PKI=$WORK/pki
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UPSTREAM=$(free_port); NGINX_MTLS=$(free_port); NGINX_SIMPLE=$(free_port)
TG_MTLS=$(free_port); TG_SIMPLE=$(free_port); TGLOG_MTLS=$(free_port); TGLOG_SIMPLE=$(free_port)

# The upstream: its own nginx (one worker), so its CPU is not counted as either proxy's.
mkdir -p "$WORK/upstream/www" "$WORK/nginx"
head -c 1048576 /dev/zero > "$WORK/upstream/www/1m"
temp_paths() { echo "client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;"; }
cat > "$WORK/upstream/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/upstream/nginx.pid;
error_log $WORK/upstream/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; $(temp_paths "$WORK/upstream")
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UPSTREAM;
    location = /1m { root $WORK/upstream/www; }
    location / { return 200 "ok\n"; }
  }
}
CONF
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes $LOOPS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off; $(temp_paths "$WORK/nginx")
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 64; }
  ssl_certificate $PKI/server-tls/tls.crt; ssl_certificate_key $PKI/server-tls/tls.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  proxy_http_version 1.1; proxy_set_header Connection ""; proxy_max_temp_file_size 0;
  server {
    listen 127.0.0.1:$NGINX_MTLS ssl;
    ssl_client_certificate $PKI/server-tls/ca.crt; ssl_verify_client on;
    location / { proxy_pass http://backend; proxy_set_header X-Forwarded-Client-Cert \$ssl_client_escaped_cert; }
  }
  server {
    listen 127.0.0.1:$NGINX_SIMPLE ssl;
    location / { proxy_pass http://backend; }
  }
}
CONF
nginx -c "$WORK/upstream/nginx.conf" -g 'daemon off;' & PIDS+=($!)

mkdir -p "$WORK/config"
cat > "$WORK/config/bench.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  servers:
  - hosts: ["*"]
    port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: MUTUAL, credentialName: server-tls}
  - hosts: ["*"]
    port: {number: 8443, name: https-simple, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: server-tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: backend, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend, namespace: istio-system}
spec:
  hosts: [backend]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: $UPSTREAM}}]
YAML
wait_for_ports() {
  for port in "$@"; do
    for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  done
}
wait_for_ports $UPSTREAM
# The proxies are started afresh for each repetition, so each one's idle-memory figure starts from a new process.
NGINX_MASTER="" TOLLGATE="" TOLLGATE_LOG=""
start_proxies() {
  nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' & NGINX_MASTER=$!
  "$BIN" serve --config "$WORK/config" --credentials "$PKI" --port-map "443=$TG_MTLS" --port-map "8443=$TG_SIMPLE" \
    --loops "$LOOPS" --no-access-log --no-watch --log-level error & TOLLGATE=$!
  "$BIN" serve --config "$WORK/config" --credentials "$PKI" --port-map "443=$TGLOG_MTLS" --port-map "8443=$TGLOG_SIMPLE" \
    --loops "$LOOPS" --no-watch --log-level error > /dev/null & TOLLGATE_LOG=$!
  PIDS+=($NGINX_MASTER $TOLLGATE $TOLLGATE_LOG)
  wait_for_ports $NGINX_MTLS $NGINX_SIMPLE $TG_MTLS $TG_SIMPLE $TGLOG_MTLS
  for _ in $(seq 100); do [ "$(ps -o pid= --ppid "$NGINX_MASTER" | wc -l)" -ge "$LOOPS" ] && break; sleep 0.05; done
}
stop_proxies() {
  kill $NGINX_MASTER $TOLLGATE $TOLLGATE_LOG
  wait $NGINX_MASTER $TOLLGATE $TOLLGATE_LOG 2>/dev/null || true
}
nginx_workers() { ps -o pid= --ppid "$NGINX_MASTER" | xargs | tr ' ' ','; }

# CPU seconds (utime+stime, all threads) of a comma-separated pid list.
cpu_seconds() {
  python3 - "$1" <<'PY'
import os, sys
total = 0
for pid in sys.argv[1].split(","):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])
print(total / os.sysconf("SC_CLK_TCK"))
PY
}
rss_kib() { # sum of VmRSS of a pid list
  local total=0
  for pid in ${1//,/ }; do total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"))); done
  echo $total
}
PERF=0
perf stat -e context-switches -p "$$" -- sleep 0.1 >/dev/null 2>&1 && PERF=1

RESULTS=$WORK/results
: > "$RESULTS"
record() { echo "$*" >> "$RESULTS"; }  # figure target value

# wrk against port $2 for proxy pids $3, recording figure $1 for target $4; extra wrk/env settings follow.
load() {
  local figure=$1 port=$2 pids=$3 target=$4 path=${5:-/}; shift 5 || shift $#
  local out=$WORK/wrk.out perfout=$WORK/perf.out
  local before after
  before=$(cpu_seconds "$pids")
  if [ $PERF = 1 ]; then perf stat -x, -e context-switches -p "$pids" -- sleep "$DURATION" 2> "$perfout" & fi
  local perfpid=$!
  env MTLS_CERT="$PKI/jinsu-macbook-tls/tls.crt" MTLS_KEY="$PKI/jinsu-macbook-tls/tls.key" MTLS_STATS=1 \
    LD_PRELOAD="$WORK/mtls_preload.so" "$@" \
    wrk -t"$THREADS" -c"${WRK_CONNECTIONS:-$CONNECTIONS}" -d"${DURATION}s" --latency ${WRK_HEADER:+-H "$WRK_HEADER"} \
    "https://127.0.0.1:$port$path" > "$out" 2>&1
  after=$(cpu_seconds "$pids")
  [ $PERF = 1 ] && wait $perfpid 2>/dev/null || true
  python3 - "$out" "$perfout" "$figure" "$target" "$before" "$after" "$PERF" >> "$RESULTS" <<'PY'
import re, sys
out, perfout, figure, target, before, after, perf = sys.argv[1:]
text = open(out).read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
cpu = (float(after) - float(before)) / max(total, 1) * 1e6
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", text)
print(f"{figure} {target} rate {rate}")
print(f"{figure} {target} cpu_us {cpu:.1f}")
if p99: print(f"{figure} {target} p99_ms {ms(*p99.groups()):.2f}")
if transfer:
    v, unit = transfer.groups()
    print(f"{figure} {target} mib_s {float(v) * {'B': 1/1048576, 'KB': 1/1024, 'MB': 1, 'GB': 1024}[unit]:.1f}")
resumed = re.search(r"mtls_preload_handshakes=(\d+)\s+mtls_preload_resumed=(\d+)", text)
if resumed and int(resumed.group(1)) > 0:
    print(f"{figure} {target} resumed_pct {100 * int(resumed.group(2)) / int(resumed.group(1)):.0f}")
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: print(f"{figure} {target} non2xx {errors.group(1)}")
if perf == "1":
    switches = sum(int(line.split(",")[0]) for line in open(perfout) if "context-switches" in line and line.split(",")[0].isdigit())
    print(f"{figure} {target} cs_per_req {switches / max(total, 1):.2f}")
PY
}

# Holds $IDLE mTLS connections open to port $1 and prints the RSS growth per connection (KiB) of pids $2.
idle_memory() {
  local port=$1 pids=$2 before after fifo=$WORK/idle.fifo
  rm -f "$fifo"; mkfifo "$fifo"
  before=$(rss_kib "$pids")
  python3 - "$port" "$IDLE" "$PKI" > "$fifo" <<'PY' &
import socket, ssl, sys, time
port, count, pki = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=f"{pki}/server-tls/ca.crt")
context.check_hostname = False
context.load_cert_chain(f"{pki}/jinsu-macbook-tls/tls.crt", f"{pki}/jinsu-macbook-tls/tls.key")
held = []
for _ in range(count):
    held.append(context.wrap_socket(socket.create_connection(("127.0.0.1", port))))
print("ready", flush=True)
time.sleep(30)
PY
  local client=$!
  read -r _ < "$fifo"
  sleep 2  # let the proxy finish the last handshakes it was sent
  after=$(rss_kib "$pids")
  kill $client 2>/dev/null; wait $client 2>/dev/null || true
  python3 -c "print(f'{($after - $before) / $IDLE:.1f}')"
}

targets_in_order() { if [ $(($1 % 2)) = 1 ]; then echo "nginx tollgate"; else echo "tollgate nginx"; fi; }
for rep in $(seq "$REPS"); do
  start_proxies
  for target in $(targets_in_order "$rep"); do
    if [ $target = nginx ]; then mtls=$NGINX_MTLS pids=$(nginx_workers); else mtls=$TG_MTLS pids=$TOLLGATE; fi
    if wants idle; then record idle $target kib_per_conn "$(idle_memory "$mtls" "$pids")"; fi
  done
  for target in $(targets_in_order "$rep"); do
    if [ $target = nginx ]; then mtls=$NGINX_MTLS simple=$NGINX_SIMPLE pids=$(nginx_workers)
    else mtls=$TG_MTLS simple=$TG_SIMPLE pids=$TOLLGATE; fi
    wants keepalive && load keepalive "$mtls" "$pids" $target /
    wants log && [ $target = tollgate ] && load keepalive_log "$TGLOG_MTLS" "$TOLLGATE_LOG" tollgate /
    wants simple && load simple "$simple" "$pids" $target /
    wants full && WRK_HEADER="Connection: close" load full "$mtls" "$pids" $target / MTLS_NO_RESUME=1
    wants resumed && WRK_HEADER="Connection: close" load resumed "$mtls" "$pids" $target /
    wants mib && WRK_CONNECTIONS=8 load mib "$mtls" "$pids" $target /1m
  done
  stop_proxies
done

[ -n "$RAW" ] && cp "$RESULTS" "$RAW"
python3 - "$RESULTS" "$REPS" "$DURATION" "$CONNECTIONS" "$THREADS" "$LOOPS" "$IDLE" <<'PY'
import statistics, sys, collections, subprocess
path, reps, duration, connections, threads, loops, idle = sys.argv[1:]
values = collections.defaultdict(list)
for line in open(path):
    figure, target, metric, value = line.split()
    values[(figure, target, metric)].append(float(value))
def median(figure, target, metric):
    v = values.get((figure, target, metric))
    return statistics.median(v) if v else None
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()
print(f"machine: {subprocess.check_output(['nproc']).decode().strip()} cores, {cpu}; wrk -t{threads} -c{connections}, "
      f"{duration} s per run, median of {reps} alternating runs; nginx {loops} workers, Tollgate {loops} loops")
rows = [
    ("keep-alive mTLS req/s", "keepalive", "rate", "x"),
    ("  proxy CPU per request (us)", "keepalive", "cpu_us", "cost"),
    ("  context switches per request", "keepalive", "cs_per_req", "cost"),
    ("  p99 latency (ms)", "keepalive", "p99_ms", "cost"),
    ("keep-alive mTLS, access log on, req/s", "keepalive_log", "rate", "x"),
    ("  proxy CPU per request (us)", "keepalive_log", "cpu_us", "cost"),
    ("keep-alive SIMPLE req/s", "simple", "rate", "x"),
    ("  proxy CPU per request (us)", "simple", "cpu_us", "cost"),
    ("new connection + full mTLS handshake + request /s", "full", "rate", "x"),
    ("  proxy CPU per handshake (us)", "full", "cpu_us", "cost"),
    ("  resumed (%)", "full", "resumed_pct", None),
    ("resumed-session reconnects /s", "resumed", "rate", "x"),
    ("  proxy CPU per reconnect (us)", "resumed", "cpu_us", "cost"),
    ("  resumed (%)", "resumed", "resumed_pct", None),
    ("1 MiB responses over mTLS, MiB/s", "mib", "mib_s", "x"),
    ("  proxy CPU per response (us)", "mib", "cpu_us", "cost"),
    (f"memory per idle mTLS connection (KiB, {idle} held)", "idle", "kib_per_conn", "cost"),
]
print(f"| figure | nginx | Tollgate | Tollgate/nginx |\n|---|---|---|---|")
for label, figure, metric, kind in rows:
    n = median(figure, "nginx", metric)
    t = median(figure, "tollgate", metric)
    if figure == "keepalive_log":
        n = median("keepalive", "nginx", metric)  # nginx runs with access_log off throughout
    if t is None: continue
    fmt = lambda v: "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}".rstrip("0").rstrip("."))
    ratio = f"{t / n:.2f}x" if kind and n and t is not None else ""
    print(f"| {label} | {fmt(n)} | {fmt(t)} | {ratio} |")
errors = {k: v for k, v in values.items() if k[2] == "non2xx" and sum(v) > 0}
if errors: print("non-2xx answers:", dict(errors))
PY
