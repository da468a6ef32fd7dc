#!/usr/bin/env python3
"""Opens one WebSocket tunnel per path with a client certificate, ends its own side of each with TLS
close_notify and then never reads: the upstream's bytes stay queued in the kernel and the gateway. Prints
"ended" and holds the sockets until killed.
usage: unread_tunnels.py HOST PORT CA CERT KEY PATH..."""
import socket
import ssl
import sys
import time

host, port, ca, cert, key = sys.argv[1:6]
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)
upgrade = (
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)
held = []
for path in sys.argv[6:]:
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname=host)
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{upgrade}\r\n".encode())
    held.append(tls)
for tls in held:
    # close_notify without waiting for the gateway's: unwrap times out reading it, which is the point.
    tls.settimeout(0.2)
    try:
        tls.unwrap()
    except (OSError, ssl.SSLError):
        pass
print("ended", flush=True)
while True:
    time.sleep(3600)
