#!/usr/bin/env python3
"""A TLS client driven step by step from standard input, for tests that must act between its steps:
connects over TCP and prints "connected", waits for a line, then handshakes (with a client certificate)
and sends one GET with keep-alive, and prints "status N connection=VALUE" from the response.
usage: step_client.py PORT SERVER_NAME CA_FILE CERT KEY PATH"""
import socket
import ssl
import sys

port, server_name, ca, cert, key, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
raw = socket.create_connection(("127.0.0.1", port), timeout=15)
print("connected", flush=True)
sys.stdin.readline()
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)
try:
    tls = context.wrap_socket(raw, server_hostname=server_name)
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        data = tls.recv(65536)
        if not data:
            break
        response += data
except (OSError, ssl.SSLError) as error:
    print(f"failed {error!r}", flush=True)
    sys.exit(0)
head = response.split(b"\r\n\r\n")[0].decode("latin1").split("\r\n")
connection = next((line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("connection:")), "-")
print(f"status {head[0].split(' ')[1] if head and head[0] else 'none'} connection={connection}", flush=True)
