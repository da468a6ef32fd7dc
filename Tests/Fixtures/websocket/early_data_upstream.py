#!/usr/bin/env python3
"""An upstream that checks what reaches it before it agrees to a WebSocket upgrade. It reads the request
head, then watches the socket for a bounded moment: any byte arriving before its 101 was forwarded too early.
It then answers 101 and reports what came after. One connection at a time. `/early/h2c` gets a 101 that
switches to h2c instead, which the gateway must refuse to relay.
usage: early_data_upstream.py PORT"""
import select
import socket
import sys

listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)


def serve(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    if b"\r\n\r\n" not in data:
        return  # a readiness probe: connected and closed without a request
    head, _, early = data.partition(b"\r\n\r\n")
    if head.startswith(b"GET /early/h2c "):
        # A switch to something other than what was asked for: the gateway must not tunnel it.
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nRAW")
        return
    readable, _, _ = select.select([conn], [], [], 0.5)
    if readable:
        early += conn.recv(65536)
    print("before-101", repr(early), flush=True)
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    after = b""
    conn.settimeout(5)
    try:
        while len(after) < 5:
            chunk = conn.recv(65536)
            if not chunk:
                break
            after += chunk
    except socket.timeout:
        pass
    print("after-101", repr(after), flush=True)
    conn.sendall(b"UPSTREAM:" + after)


while True:
    conn, _ = listener.accept()
    try:
        serve(conn)
    except OSError as error:
        print("connection failed", error, flush=True)
    conn.close()
