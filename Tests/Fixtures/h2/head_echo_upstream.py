#!/usr/bin/env python3
"""An HTTP/1.1 upstream that agrees to every WebSocket upgrade (a 101 whose Sec-WebSocket-Accept answers the key),
then sends the request head it received, and whatever followed it, as the tunnel's bytes and closes: a test
reads exactly what the gateway wrote upstream. A path under /head/flood/ instead gets bytes as fast as the
gateway takes them, for up to 60 s.

    head_echo_upstream.py PORT
"""
import base64
import hashlib
import socket
import sys
import time

sys.dont_write_bytecode = True  # importing upstream_server leaves no __pycache__ in the repository
from upstream_server import read_head, serve_forever  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def serve(connection):
    with connection:
        connection.settimeout(10)
        data = read_head(connection)
        if data is None:
            return
        head = data.split(b"\r\n\r\n", 1)[0]
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + data)
        if head.split(b" ")[1].startswith(b"/head/flood/"):
            flood(connection)
            return
        connection.shutdown(socket.SHUT_WR)
        try:
            while connection.recv(65536):
                pass
        except OSError:
            pass


def flood(connection):
    chunk = b"\x82\x7e\xff\xff" + b"f" * 65535  # one unmasked binary frame of 64 KiB - 1, over and over
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            connection.sendall(chunk)
    except OSError:
        pass


if __name__ == "__main__":
    serve_forever(int(sys.argv[1]), serve)
