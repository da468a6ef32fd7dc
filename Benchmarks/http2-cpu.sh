#!/usr/bin/env bash
# Gateway CPU per request over keep-alive mutual TLS: HTTP/2 with 10 streams per connection, HTTP/1.1 keep-alive,
# and HTTP/2 with one stream per connection, the same /uuid requests from h2load (apt nghttp2-client), the client
# certificate presented through the LD_PRELOAD shim in ../shared/tools/wrk-client-cert/ (MTLS_SHIM_SRC overrides).
# CPU is the gateway's utime+stime from /proc/PID/stat; one loop; loopback; every run bounded by `timeout`.
#   Benchmarks/http2-cpu.sh [BIN]   (default: the release build; N=20000 requests per case)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
N=${N:-20000}
scripts/install-deps.sh nghttp2-client gcc
if [ -z "$BIN" ]; then
  swift build -c release --product tollgate >/dev/null
  BIN=$PWD/.build/release/tollgate
fi
SHIM_SRC=${MTLS_SHIM_SRC:-$PWD/../shared/tools/wrk-client-cert/mtls_preload.c}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
gcc -O2 -shared -fPIC -o "$WORK/mtls.so" "$SHIM_SRC" -ldl
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UPSTREAM=$(free_port); GATEWAY=$(free_port)
cp -r config "$WORK/config"
grep -rl 8080 "$WORK/config" | xargs sed -i "s/8080/$UPSTREAM/g"
"$BIN" demo-upstream --port "$UPSTREAM" >/dev/null 2>&1 & PIDS+=($!)
"$BIN" serve --config "$WORK/config" --credentials certs-sample --port-map "8443=$GATEWAY" --loops 1 \
  --log-level error >/dev/null 2>&1 & GW=$!
PIDS+=($GW)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$GATEWAY) 2>/dev/null && break; sleep 0.1; done
cpu() { awk '{print $14+$15}' "/proc/$GW/stat"; }
run() {
  local before after
  before=$(cpu)
  MTLS_CERT=certs-sample/jinsu-macbook-tls/tls.crt MTLS_KEY=certs-sample/jinsu-macbook-tls/tls.key \
    LD_PRELOAD=$WORK/mtls.so timeout 120 h2load "$@" "https://localhost:$GATEWAY/uuid" | grep -E "^finished|^requests:"
  after=$(cpu)
  echo "gateway CPU: $(( (after - before) * 10 )) ms, $(( (after - before) * 10000000 / N )) ns per request"
}
echo "== HTTP/2, 4 connections x 10 streams"; run -n "$N" -c 4 -m 10
echo "== HTTP/1.1 keep-alive, 4 connections"; run --h1 -n "$N" -c 4
echo "== HTTP/2, 4 connections x 1 stream"; run -n "$N" -c 4 -m 1
