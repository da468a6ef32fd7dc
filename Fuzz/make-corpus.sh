#!/usr/bin/env bash
# Rewrites the seed corpus in Fuzz/Corpus/TARGET/ (committed; scripts/fuzz starts each run from it). HTTP,
# YAML and path seeds are written out literally below; the certificates are made with the openssl command,
# each with its own fresh key, so running this again changes their bytes but not what they exercise.
set -euo pipefail
cd "$(dirname "$0")"
CORPUS=Corpus
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

seed() { # target name bytes (printf format)
  mkdir -p "$CORPUS/$1"
  printf -- "$3" > "$CORPUS/$1/$2"
}

rm -rf "$CORPUS"

# --- request-decoder: valid requests of every framing, and the hostile shapes issue 17 lists.
r=request-decoder
seed $r get 'GET /a?b=c HTTP/1.1\r\nHost: a.test\r\nUser-Agent: fuzz\r\n\r\n'
seed $r post-length 'POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello'
seed $r post-chunked 'POST /p HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: v\r\n\r\n'
seed $r pipelined 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.1\r\nHost: a\r\n\r\n'
seed $r absolute-form 'GET http://a.test:8080/abs?q HTTP/1.1\r\nHost: a.test:8080\r\n\r\n'
seed $r options-star 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n'
seed $r http10-keep-alive 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n'
seed $r leading-empty-lines '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'
seed $r content-length-list 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello'
seed $r content-length-conflict 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
seed $r te-and-cl 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
seed $r underscore-framing 'POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\nContent-Length: 5\r\n\r\nhello'
seed $r te-list 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
seed $r http12-no-host 'GET / HTTP/1.2\r\n\r\n'
seed $r not-http "I'm not HTTP"
seed $r obs-fold 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n'
seed $r bare-lf 'GET / HTTP/1.1\nHost: a\n\n'
seed $r host-userinfo 'GET / HTTP/1.1\r\nHost: evil"<x>@a.test,b\r\n\r\n'
seed $r chunk-hex-overflow 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff0\r\n'

# --- response-decoder: every way a response body is delimited.
s=response-decoder
seed $s length 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'
seed $s chunked 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
seed $s until-close 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close'
seed $s http10 'HTTP/1.0 200 OK\r\n\r\nold'
seed $s no-content 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'
seed $s not-modified 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'
seed $s continue-then-ok 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
seed $s gzip-chunked 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
seed $s gzip-only 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz'
seed $s pipelined 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'
seed $s no-reason 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'
seed $s bad-status 'HTTP/1.1 20x OK\r\n\r\n'
seed $s smuggle 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'

# --- config-loader: the walkthrough's manifests and the shipped examples, plus YAML's odder corners.
c=config-loader
mkdir -p "$CORPUS/$c"
for f in ../Tests/Fixtures/seed/*.yaml ../config/*.yaml; do cp "$f" "$CORPUS/$c/$(basename "$(dirname "$f")")-$(basename "$f")"; done
seed $c anchors 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: &m {name: g, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - &s {port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: c}}\n  - *s\n'
seed $c multi-document '---\n---\nkind: Service\napiVersion: v1\nmetadata: {name: s}\n...\n--- !!str text\n'
seed $c tags 'apiVersion: !!binary aGVsbG8=\nkind: !custom Gateway\nmetadata: {name: [1, 2]}\nspec: !!null\n'
seed $c nesting 'a: [[[[[[[[[[[[[[[[{b: {c: {d: [[[[[[[]]]]]]}}}]]]]]]]]]]]]]]]]\n'
seed $c duplicate-keys 'kind: Gateway\nkind: VirtualService\napiVersion: networking.istio.io/v1\nmetadata: {name: x}\nmetadata: {name: y}\nspec: {}\n'
seed $c authorization-when 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: istio-system}\nspec:\n  action: DENY\n  rules:\n  - from: [{source: {principals: ["*"], notIpBlocks: ["10.0.0.0/8"]}}]\n    to: [{operation: {paths: ["/admin*"], methods: [GET]}}]\n    when: [{key: destination.ip, values: ["192.0.2.1"]}, {key: request.headers[x-a], notValues: [""]}]\n'
seed $c not-yaml '\t{ "kind": [ }\n\x00\xff'

# --- path-normalizer
p=path-normalizer
seed $p plain '/a/b/c'
seed $p dot-segments '/a/./b/../../c/.'
seed $p encoded-dots '/%%2e%%2E/admin/%%2e'
seed $p encoded-slash '/a%%2Fb%%5c..%%2f..'
seed $p backslashes '\\\\a\\..\\b'
seed $p double-slash '//a//..//b'
seed $p unreserved '/%%41%%7e%%5F%%2D'
seed $p nul '/a%%00b'
seed $p stray-percent '/%%%%32%%65%%zz'
seed $p star '*'
seed $p combining '/a/\xcc\x81/../b'

# --- certificate: DER certificates, most with subject alternative names no CA should sign.
t=certificate
mkdir -p "$CORPUS/$t"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.pem"
cert() { # name config-extension-lines [subject]
  {
    printf '[req]\ndistinguished_name = dn\nprompt = no\nutf8 = yes\nstring_mask = utf8only\n[dn]\nCN = %s\n[ext]\nbasicConstraints = critical,CA:FALSE\n' "${3:-fuzz}"
    printf '%s\n' "$2"
  } > "$WORK/$1.cnf"
  openssl req -x509 -new -key "$WORK/key.pem" -config "$WORK/$1.cnf" -extensions ext -days 30 -outform DER \
    -out "$CORPUS/$t/$1.der"
}
# A name's bytes as an IMPLICIT-tagged OCTET STRING: the same DER as the IA5String the SAN would hold,
# but any bytes at all (CR, LF, NUL, non-ASCII) can be written.
hexname() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
cert spiffe "subjectAltName = URI:spiffe://cluster.local/ns/default/sa/client, DNS:client.a.test, email:c@a.test, IP:192.0.2.7, IP:2001:db8::7"
cert uri-crlf "subjectAltName = ASN1:SEQUENCE:san
[san]
uri = IMPLICIT:6,FORMAT:HEX,OCTETSTRING:$(hexname $'spiffe://evil\r\nx-injected: yes')
dns = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:$(hexname $'a.test\r\nx: y')"
cert uri-nul "subjectAltName = ASN1:SEQUENCE:san
[san]
uri = IMPLICIT:6,FORMAT:HEX,OCTETSTRING:$(hexname 'spiffe://a')00$(hexname 'b')
uri2 = IMPLICIT:6,FORMAT:HEX,OCTETSTRING:00"
cert empty-names "subjectAltName = ASN1:SEQUENCE:san
[san]
dns = IMPLICIT:2,OCTETSTRING:
uri = IMPLICIT:6,OCTETSTRING:
email = IMPLICIT:1,OCTETSTRING:
ip = IMPLICIT:7,OCTETSTRING:"
cert ip-lengths "subjectAltName = ASN1:SEQUENCE:san
[san]
ip1 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:01
ip3 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:c00002
ip5 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:c000020701
ip17 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:20010db8000000000000000000000007ff
ip4 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:c0000207"
cert non-utf8 "subjectAltName = ASN1:SEQUENCE:san
[san]
uri = IMPLICIT:6,FORMAT:HEX,OCTETSTRING:$(hexname 'spiffe://caf')e9ff
dns = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:2a2ec3"
cert wildcards "subjectAltName = DNS:*.a.test, DNS:*, DNS:*., DNS:.a.test, DNS:a..test, URI:spiffe://, URI:spiffe:///ns//sa/"
cert other-types "subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@a.test, RID:1.2.3.4, dirName:dir, URI:spiffe://td/ns/x/sa/y
[dir]
CN = directory name"
cert control-subject "subjectAltName = URI:spiffe://td/ns/a/sa/b" 'evil\r\nx-injected: yes'  # the config file's escapes
cert unicode-subject "subjectAltName = DNS:xn--caf-dma.test" 'café, "quoted"; semi=colon\\'
huge=$(for i in $(seq 1 600); do printf 'dns%d = IMPLICIT:2,OCTETSTRING:h%d.a.test\n' "$i" "$i"; done)
cert huge-san-list "subjectAltName = ASN1:SEQUENCE:san
[san]
$huge
uri = IMPLICIT:6,OCTETSTRING:spiffe://td/ns/last/sa/one"
# The project's own sample client and server certificates, as `tollgate certs` makes them.
for d in ../certs-sample/*-tls; do
  openssl x509 -in "$d/tls.crt" -outform DER -out "$CORPUS/$t/sample-$(basename "$d").der"
done
# Not a certificate at all: a truncated one and an empty file.
head -c 200 "$CORPUS/$t/spiffe.der" > "$CORPUS/$t/truncated.der"
: > "$CORPUS/$t/empty.der"
echo "seed corpus written to $(pwd)/$CORPUS"
