#!/usr/bin/env bash
# Installs the system packages Tollgate builds and tests with, when missing (Debian/Ubuntu).
#   libssl-dev  OpenSSL 3 headers and libraries (the COpenSSL system-library target)
#   libnghttp2-dev  HTTP/2 (RFC 9113) framing, HPACK and flow control (the CNGHTTP2 system-library target)
#   curl, openssl  the real clients the integration tests drive
#   libnss3-tools  pk12util and certutil, to check .p12 bundles the way browsers import them
#   extra packages can be passed as arguments (e.g. chromium libnss3-tools for the browser test)
set -euo pipefail
packages=(libssl-dev libnghttp2-dev pkg-config curl openssl libnss3-tools "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
