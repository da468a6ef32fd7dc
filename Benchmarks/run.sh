#!/usr/bin/env bash
# Tollgate against nginx on this machine, both terminating mutual TLS and proxying to the same upstream
# (an nginx answering 200 with a small body). Loopback only; bounded in requests and time.
#
#   keep-alive: requests/s over persistent mTLS connections (curl --parallel, connection reuse)
#   handshakes: new full mTLS handshakes/s (openssl s_time -new, one GET each)
#
# Usage: Benchmarks/run.sh [REQUESTS=20000] [PARALLEL=32] [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-20000}
PARALLEL=${2:-32}
SECONDS_PER_RUN=${3:-5}
LOOPS=$(nproc)

scripts/install-deps.sh nginx-light
swift build -c release --product tollgate >/dev/null
BIN=$PWD/.build/release/tollgate
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

scripts/gen-certs.sh "$WORK/pki" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UPSTREAM=$(free_port); NGINX=$(free_port); TOLLGATE=$(free_port)
HOST=istio-server-mtls.dev.lab.jinsu.me
PKI=$WORK/pki

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes $LOOPS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 64; }
  server { listen 127.0.0.1:$UPSTREAM; location / { return 200 "hello from the upstream\n"; } }
  server {
    listen 127.0.0.1:$NGINX ssl;
    ssl_certificate $PKI/server-tls/tls.crt; ssl_certificate_key $PKI/server-tls/tls.key;
    ssl_client_certificate $PKI/server-tls/ca.crt; ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-Client-Cert \$ssl_client_escaped_cert;
    }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

mkdir -p "$WORK/config"
cat > "$WORK/config/bench.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  servers:
  - hosts: [$HOST]
    port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: MUTUAL, credentialName: server-tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: istio-system}
spec:
  hosts: [$HOST]
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
"$BIN" serve --config "$WORK/config" --credentials "$PKI" --port-map "443=$TOLLGATE" --loops "$LOOPS" --no-access-log \
  --log-level error &
PIDS+=($!)

for port in $UPSTREAM $NGINX $TOLLGATE; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
done

CLIENT=(--cacert "$PKI/server-tls/ca.crt" --cert "$PKI/jinsu-macbook-tls/tls.crt" --key "$PKI/jinsu-macbook-tls/tls.key")

keepalive() { # port -> requests/s
  local port=$1 list=$WORK/urls-$1
  : > "$list"
  for _ in $(seq "$REQUESTS"); do echo "url = \"https://$HOST:$port/\"" >> "$list"; echo "output = \"/dev/null\"" >> "$list"; done
  local start end
  start=$(date +%s.%N)
  curl -s --no-progress-meter --parallel --parallel-max "$PARALLEL" --resolve "$HOST:$port:127.0.0.1" "${CLIENT[@]}" -K "$list" -w '%{http_code}\n' \
    | sort | uniq -c > "$WORK/codes-$port"
  end=$(date +%s.%N)
  python3 -c "print(round($REQUESTS / ($end - $start)))"
}

handshakes() { # port -> connections/s
  openssl s_time -connect "127.0.0.1:$port" -new -time "$SECONDS_PER_RUN" -www / \
    -CAfile "$PKI/server-tls/ca.crt" -cert "$PKI/jinsu-macbook-tls/tls.crt" -key "$PKI/jinsu-macbook-tls/tls.key" 2>/dev/null \
    | awk '/connections in .* real seconds/ {printf "%d\n", $1 / $4; exit}'
}

printf "machine: %s cores, %s\n" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf "%-10s %22s %22s\n" "" "keep-alive req/s" "new handshakes/s"
for name in nginx tollgate; do
  port=$NGINX; [ "$name" = tollgate ] && port=$TOLLGATE
  port=$port
  k=$(keepalive "$port")
  h=$(port=$port handshakes "$port")
  printf "%-10s %22s %22s\n" "$name" "$k" "$h"
  if ! grep -q " 200$" "$WORK/codes-$port" || grep -qv " 200$" "$WORK/codes-$port"; then
    echo "  non-200 answers from $name:"; cat "$WORK/codes-$port"
  fi
done
