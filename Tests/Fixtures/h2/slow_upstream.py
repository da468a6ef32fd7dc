#!/usr/bin/env python3
"""An HTTP/1.1 upstream that reads request bodies slowly (RATE bytes per second), for the test that a gateway
ties HTTP/2 flow control to upstream backpressure. Answers each request with {"bytes": N} once its body is read.

    slow_upstream.py PORT [RATE]
"""
import json
import socket
import sys
import time

sys.dont_write_bytecode = True  # importing upstream_server leaves no __pycache__ in the repository
from upstream_server import read_head, serve_forever  # noqa: E402


def serve(connection):
    with connection:
        data = read_head(connection)
        if data is None:
            return
        head, body = data.split(b"\r\n\r\n", 1)
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if name.strip().lower() == b"transfer-encoding":
                chunked = True
        received = len(body)
        step = 64 * 1024
        pause = step / RATE
        # Chunked bodies are counted up to their terminating chunk; the count includes framing, which is fine
        # for a test that checks memory, not bytes.
        while (received < length) if not chunked else not body.endswith(b"0\r\n\r\n"):
            time.sleep(pause)
            chunk = connection.recv(step)
            if not chunk:
                return
            received += len(chunk)
            if chunked:
                body = (body + chunk)[-5:]
        payload = json.dumps({"bytes": received}).encode()
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                           b"connection: close\r\n\r\n%s" % (len(payload), payload))


if __name__ == "__main__":
    PORT = int(sys.argv[1])
    RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 8 * 1024 * 1024
    serve_forever(PORT, serve, lambda accepted: accepted.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024))
