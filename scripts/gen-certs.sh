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

intermediate() { # parent-dir name cn
  mkdir -p "$2"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$2/tls.key" -subj "/CN=$3" -out "$WORK/int.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' \
    > "$WORK/int.cnf"
  openssl x509 -req -in "$WORK/int.csr" -CA "$1/tls.crt" -CAkey "$1/tls.key" -CAcreateserial -CAserial "$WORK/serial" \
    -out "$2/tls.crt" -days 3650 -extfile "$WORK/int.cnf" 2>/dev/null
  cp "$1/ca.crt" "$2/ca.crt"
}

trust_folder() { # name ca-bundle: the gateway's server certificate with another client-CA bundle
  mkdir -p "$1" && cp server-tls/tls.crt server-tls/tls.key "$1/" && cp "$2" "$1/ca.crt"
}

crl() { # ca-dir db-dir [certificate to revoke…]: prints the CA's CRL (also kept as db-dir.pem)
  local ca=$1 db=$2
  shift 2
  mkdir -p "$db"; : > "$db/index"; echo 1000 > "$db/crlnumber"
  cat > "$db/ca.cnf" <<CNF
[ ca ]
default_ca = d
[ d ]
database = $db/index
crlnumber = $db/crlnumber
default_md = sha256
default_crl_days = 3650
CNF
  for cert in "$@"; do
    openssl ca -batch -config "$db/ca.cnf" -cert "$ca/tls.crt" -keyfile "$ca/tls.key" -revoke "$cert" 2>/dev/null
  done
  openssl ca -batch -config "$db/ca.cnf" -cert "$ca/tls.crt" -keyfile "$ca/tls.key" -gencrl -out "$db.pem" 2>/dev/null
  cat "$db.pem"
}

p12() { # dir file
  # Legacy PBE-SHA1-3DES + SHA1 MAC: the encoding every macOS Keychain, Windows and NSS accept.
  openssl pkcs12 -export -legacy -inkey "$1/tls.key" -in "$1/tls.crt" -certfile "$1/ca.crt" -name "$(basename "$2" .p12)" \
    -out "$2" -passout "pass:$P12_PASSWORD" 2>/dev/null
}

ca self-signed-ca self-signed-ca
# The tests also serve hosts under iso.test (several server blocks on one port).
[ "$MODE" = --test ] && TEST_SAN=",DNS:*.iso.test" || TEST_SAN=""
leaf self-signed-ca-tls server-tls "$HOST" serverAuth \
  "DNS:$HOST,DNS:server,DNS:server.istio-server-mtls,DNS:server.istio-server-mtls.svc.cluster.local,DNS:localhost,IP:127.0.0.1$TEST_SAN" 825 rsa
leaf self-signed-ca-tls jinsu-macbook-tls jinsu-macbook clientAuth "URI:spiffe://jinsu-macbook"
leaf self-signed-ca-tls jinsu-iphone-tls jinsu-iphone clientAuth "URI:spiffe://jinsu-iphone"
p12 jinsu-macbook-tls jinsu-macbook.p12
p12 jinsu-iphone-tls jinsu-iphone.p12

if [ "$MODE" = --test ]; then
  leaf self-signed-ca-tls other-server-tls other.example.test serverAuth "DNS:other.example.test,DNS:*.wild.example.test"
  leaf self-signed-ca-tls expired-client-tls expired-client clientAuth "URI:spiffe://expired-client" expired
  # A device in ten days of the end of its certificate, with a principal as long as Istio's can be (the browser tests).
  leaf self-signed-ca-tls field-laptop-tls field-laptop clientAuth \
    "URI:spiffe://cluster.local/ns/field-engineering/sa/jinsu-field-laptop-with-a-long-service-account-name" 10
  p12 field-laptop-tls field-laptop.p12
  leaf self-signed-ca-tls server-usage-client-tls wrong-usage serverAuth "URI:spiffe://wrong-usage"
  # A client from the trusted CA whose SANs carry CR LF (a CA that signs whatever a device asks for).
  leaf self-signed-ca-tls injection-client-tls injection clientAuth 'URI:spiffe://evil\r\nx-injected: yes'
  ca rogue-ca rogue-ca
  leaf rogue-ca-tls rogue-client-tls jinsu-macbook clientAuth "URI:spiffe://jinsu-macbook"
  # A folder whose CA is the rogue one, to serve a gateway that trusts a different CA.
  mkdir -p rogue-trust-tls && cp server-tls/tls.crt server-tls/tls.key rogue-trust-tls/ && cp rogue-ca-tls/ca.crt rogue-trust-tls/ca.crt
  # The demo CA with a CRL that revokes jinsu-macbook (jinsu-iphone stays good).
  trust_folder crl-trust-tls self-signed-ca-tls/ca.crt
  crl self-signed-ca-tls "$WORK/crl-demo" jinsu-macbook-tls/tls.crt > crl-trust-tls/ca.crl
  # A two-level chain: root → intermediate → client; the client sends its intermediate.
  ca chain-root-ca chain-root-ca
  intermediate chain-root-ca-tls chain-int-ca-tls chain-int-ca
  leaf chain-int-ca-tls chain-client-tls chain-client clientAuth "URI:spiffe://chain-client"
  cat chain-int-ca-tls/tls.crt >> chain-client-tls/tls.crt
  # Trusting the root: CRLs for both CAs, once all good, once with the intermediate revoked by the root.
  trust_folder chain-ok-tls chain-root-ca-tls/ca.crt
  { crl chain-root-ca-tls "$WORK/crl-root-ok"; crl chain-int-ca-tls "$WORK/crl-int"; } > chain-ok-tls/ca.crl
  trust_folder chain-revoked-int-tls chain-root-ca-tls/ca.crt
  { crl chain-root-ca-tls "$WORK/crl-root-revoking" chain-int-ca-tls/tls.crt; cat "$WORK/crl-int.pem"; } > chain-revoked-int-tls/ca.crl
fi
echo "certificates written to $OUT"
