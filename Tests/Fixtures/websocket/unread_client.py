#!/usr/bin/env python3
"""A client with a certificate that never reads. `tunnel`: opens one WebSocket tunnel per path and ends its
own side of each with TLS close_notify; `close`: sends one `GET PATH` with `Connection: close` per path.
The gateway's answers stay queued in the kernel and the gateway. Prints "ended" and holds the sockets until
killed.
usage: unread_client.py tunnel|close HOST PORT CA CERT KEY PATH..."""
import socket
import ssl
import sys
import time

mode, host, port, ca, cert, key = sys.argv[1:7]
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)
upgrade = (
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)
fields = upgrade if mode == "tunnel" else "Connection: close\r\n"
held = []
for path in sys.argv[7:]:
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname=host)
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{fields}\r\n".encode())
    held.append(tls)
for tls in held if mode == "tunnel" else []:
    # close_notify without waiting for the gateway's: unwrap times out reading it, which is the point.
    tls.settimeout(0.2)
    try:
        tls.unwrap()
    except (OSError, ssl.SSLError):
        pass
print("ended", flush=True)
while True:
    time.sleep(3600)
