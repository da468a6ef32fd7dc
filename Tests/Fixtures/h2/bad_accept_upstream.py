#!/usr/bin/env python3
"""An HTTP/1.1 upstream that agrees to every WebSocket upgrade with a `101` whose Sec-WebSocket-Accept does not
answer the key it was sent (RFC 6455 §4.1 says a client must then fail the connection), then echoes raw bytes;
under `/bad-accept/refuse` it refuses with a keep-alive `400` instead, whose body comes a second later, and
prints whatever else arrives on that connection (bytes a gateway must never pass on once the upgrade was refused).

    bad_accept_upstream.py PORT
"""
import sys
import time

sys.dont_write_bytecode = True  # importing upstream_server leaves no __pycache__ in the repository
from upstream_server import read_head, serve_forever  # noqa: E402


def serve(connection):
    with connection:
        data = read_head(connection)
        if data is None:
            return
        if data.split(b" ", 2)[1].startswith(b"/bad-accept/refuse"):
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 8\r\n\r\n")
            time.sleep(1)  # the body is slow: the client has time to send more while the response is open
            connection.sendall(b"refused\n")
            rest = data.split(b"\r\n\r\n", 1)[1]
            while True:
                if rest:
                    print("after the refusal:", rest, flush=True)
                rest = connection.recv(65536)
                if not rest:
                    return
        connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return
            connection.sendall(chunk)


if __name__ == "__main__":
    serve_forever(int(sys.argv[1]), serve)
