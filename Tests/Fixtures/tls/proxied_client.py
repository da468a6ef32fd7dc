#!/usr/bin/env python3
"""Connects as an L4 balancer would: sends a PROXY protocol header (hex bytes), then speaks TLS with a
client certificate, GETs /headers and prints the status line and the x-forwarded-for the upstream saw,
or "failed ..." when the connection was refused or closed.
usage: proxied_client.py PORT SERVER_NAME CA CERT KEY HEADER_HEX"""
import json
import socket
import ssl
import sys

port, name, ca, cert, key, header = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], bytes.fromhex(sys.argv[6])
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)
try:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.sendall(header)
    tls = context.wrap_socket(raw, server_hostname=name)
    tls.sendall(f"GET /headers HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
    response = b""
    while True:
        data = tls.recv(65536)
        if not data:
            break
        response += data
except (OSError, ssl.SSLError) as error:
    print(f"failed {type(error).__name__}")
    sys.exit(0)
head, _, body = response.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
try:
    headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    print("x-forwarded-for=" + headers.get("x-forwarded-for", "-"))
except ValueError:
    print("body " + body[:200].decode("latin1"))
