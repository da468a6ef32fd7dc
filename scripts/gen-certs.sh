#!/usr/bin/env bash
# Writes a complete demo PKI in the credential layout that `credentialName` refers to:
#   OUT/self-signed-ca-tls/{tls.crt,tls.key,ca.crt}   the CA (as cert-manager's secret would hold it)
#   OUT/server-tls/{tls.crt,tls.key,ca.crt}           server certificate for HOST, localhost, 127.0.0.1
#   OUT/jinsu-macbook-tls/...  + jinsu-macbook.p12    client spiffe://jinsu-macbook
#   OUT/jinsu-iphone-tls/...   + jinsu-iphone.p12     client spiffe://jinsu-iphone
# With --test it adds what the tests need: an expired client, a client of another CA, a second server.
# The tests' PKI is made with the openssl command on purpose: the gateway is checked against certificates
# it did not issue itself (`tollgate certs` is tested separately, and makes certs-sample/).
set -euo pipefail
OUT=${1:?usage: gen-certs.sh OUT_DIR [--test]}
MODE=${2:-}
HOST=${TOLLGATE_HOST:-istio-server-mtls.dev.lab.jinsu.me}
P12_PASSWORD=${P12_PASSWORD:-tollgate}
mkdir -p "$OUT"
cd "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

ca() { # name subject
  mkdir -p "$1-tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1-tls/tls.key" -out "$1-tls/tls.crt" -days 3650 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  cp "$1-tls/tls.crt" "$1-tls/ca.crt"
}

leaf() { # ca-dir name cn eku san [days|expired] [keyalg]
  local ca=$1 name=$2 cn=$3 eku=$4 san=$5 days=${6:-825} alg=${7:-ec}
  mkdir -p "$name"
  if [ "$alg" = rsa ]; then
    openssl genrsa -traditional -out "$name/tls.key" 2048 2>/dev/null
  else
    openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.pem"
    openssl pkcs8 -topk8 -nocrypt -in "$WORK/key.pem" -out "$name/tls.key"
  fi
  openssl req -new -key "$name/tls.key" -subj "/CN=$cn" -out "$WORK/req.csr"
  cat > "$WORK/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
  if [ "$days" = expired ]; then
    mkdir -p "$WORK/db/new"; : > "$WORK/db/index"; echo 01 > "$WORK/db/serial"
    cat > "$WORK/ca.cnf" <<CNF
[ ca ]
default_ca = d
[ d ]
dir = $WORK/db
database = \$dir/index
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = p
copy_extensions = none
[ p ]
commonName = supplied
CNF
    openssl ca -batch -config "$WORK/ca.cnf" -cert "$ca/tls.crt" -keyfile "$ca/tls.key" -in "$WORK/req.csr" \
      -out "$name/tls.crt" -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$WORK/ext.cnf" -notext 2>/dev/null
  else
    openssl x509 -req -in "$WORK/req.csr" -CA "$ca/tls.crt" -CAkey "$ca/tls.key" -CAcreateserial -CAserial "$WORK/serial" \
      -out "$name/tls.crt" -days "$days" -extfile "$WORK/ext.cnf" 2>/dev/null
  fi
  cp "$ca/ca.crt" "$name/ca.crt"
}

p12() { # dir file
  # Legacy PBE-SHA1-3DES + SHA1 MAC: the encoding every macOS Keychain, Windows and NSS accept.
  openssl pkcs12 -export -legacy -inkey "$1/tls.key" -in "$1/tls.crt" -certfile "$1/ca.crt" -name "$(basename "$2" .p12)" \
    -out "$2" -passout "pass:$P12_PASSWORD" 2>/dev/null
}

ca self-signed-ca self-signed-ca
leaf self-signed-ca-tls server-tls "$HOST" serverAuth \
  "DNS:$HOST,DNS:server,DNS:server.istio-server-mtls,DNS:server.istio-server-mtls.svc.cluster.local,DNS:localhost,IP:127.0.0.1" 825 rsa
leaf self-signed-ca-tls jinsu-macbook-tls jinsu-macbook clientAuth "URI:spiffe://jinsu-macbook"
leaf self-signed-ca-tls jinsu-iphone-tls jinsu-iphone clientAuth "URI:spiffe://jinsu-iphone"
p12 jinsu-macbook-tls jinsu-macbook.p12
p12 jinsu-iphone-tls jinsu-iphone.p12

if [ "$MODE" = --test ]; then
  leaf self-signed-ca-tls other-server-tls other.example.test serverAuth "DNS:other.example.test,DNS:*.wild.example.test"
  leaf self-signed-ca-tls expired-client-tls expired-client clientAuth "URI:spiffe://expired-client" expired
  leaf self-signed-ca-tls server-usage-client-tls wrong-usage serverAuth "URI:spiffe://wrong-usage"
  ca rogue-ca rogue-ca
  leaf rogue-ca-tls rogue-client-tls jinsu-macbook clientAuth "URI:spiffe://jinsu-macbook"
  # A folder whose CA is the rogue one, to serve a gateway that trusts a different CA.
  mkdir -p rogue-trust-tls && cp server-tls/tls.crt server-tls/tls.key rogue-trust-tls/ && cp rogue-ca-tls/ca.crt rogue-trust-tls/ca.crt
fi
echo "certificates written to $OUT"
