#!/usr/bin/env bash
# Regenerates certs-sample/ with `tollgate certs`: a CA, the walkthrough's server certificate, and two
# client devices with SPIFFE URIs and browser-ready .p12 bundles (password: tollgate, legacy encoding).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-certs-sample}
HOST=istio-server-mtls.dev.lab.jinsu.me
swift build --product tollgate >/dev/null
T=.build/debug/tollgate
rm -rf "$OUT"
export TOLLGATE_P12_PASSWORD=${TOLLGATE_P12_PASSWORD:-tollgate}
$T certs init --out "$OUT" --name self-signed-ca-tls --common-name self-signed-ca --key rsa2048 --days 3650
$T certs server server-tls --out "$OUT" --dns "$HOST" --dns localhost --ip 127.0.0.1 --key rsa2048 --days 825
$T certs client jinsu-macbook-tls --out "$OUT" --spiffe spiffe://jinsu-macbook --days 825 --p12 "$OUT/jinsu-macbook.p12" --legacy
$T certs client jinsu-iphone-tls --out "$OUT" --spiffe spiffe://jinsu-iphone --days 825 --p12 "$OUT/jinsu-iphone.p12" --legacy
