#!/usr/bin/env python3
"""A TLS 1.3 client without a certificate that a MUTUAL gateway refuses, and that then never closes its
connection: what a careless or hostile peer leaves behind. It prints "alert REASON" once it has read the
gateway's alert. With "flood", it then sends SECONDS of a plaintext request over and over (bytes the
failed TLS session cannot decode). With "probe", it opens a second TCP connection at once and prints
"second connection refused" if the gateway closes it within a second, else "second connection open".
Finally it waits, never closing, and prints "closed after S" (seconds since the alert) when the gateway
closes the first connection, "bytes after the alert N" for anything the gateway sends, or "open after S"
when TIMEOUT passes.
usage: refused_client.py PORT SERVER_NAME CA_FILE TIMEOUT [flood SECONDS | probe]"""
import socket
import ssl
import sys
import time

port, server_name, ca, timeout = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else ""
raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
context = ssl.create_default_context(cafile=ca)
context.minimum_version = ssl.TLSVersion.TLSv1_3
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)


def flush():
    data = outgoing.read()
    if data:
        raw.sendall(data)


def pump():
    data = raw.recv(65536)
    if not data:
        print("closed before the alert", flush=True)
        sys.exit(0)
    incoming.write(data)


while True:
    try:
        tls.do_handshake()
        flush()
        break
    except ssl.SSLWantReadError:
        flush()
        pump()
try:
    while True:
        try:
            tls.read(1)
            print("application data before the alert", flush=True)
            sys.exit(0)
        except ssl.SSLWantReadError:
            pump()
except ssl.SSLError as error:
    print(f"alert {error.reason}", flush=True)
alert = time.monotonic()

if mode == "probe":
    second = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        refused = second.recv(1) == b""
    except ConnectionResetError:
        refused = True
    except socket.timeout:
        refused = False
    print("second connection " + ("refused" if refused else "open"), flush=True)
elif mode == "flood":
    request = b"GET /uuid HTTP/1.1\r\nHost: x\r\n\r\n" * 2048
    end = alert + float(sys.argv[6])
    sent = 0
    try:
        while time.monotonic() < end:
            sent += raw.send(request)
    except OSError as error:
        print(f"send failed after {time.monotonic() - alert:.2f}: {error!r}", flush=True)
    print(f"flooded {sent} bytes", flush=True)

try:
    while True:
        data = raw.recv(65536)
        if not data:
            break
        print(f"bytes after the alert {len(data)}", flush=True)
except socket.timeout:
    print(f"open after {time.monotonic() - alert:.2f}", flush=True)
    sys.exit(0)
except ConnectionResetError:
    pass
print(f"closed after {time.monotonic() - alert:.2f}", flush=True)
