#!/usr/bin/env python3
"""An upstream that agrees to every WebSocket upgrade, sends the number of bytes the path's last segment
names (`/flood/4000000`), ends its side (FIN) and keeps the socket until the gateway closes it: with a
client that does not read, what it sent waits in the gateway's queue.
usage: flood_upstream.py PORT"""
import socket
import sys
import threading

listener = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
print("listening", flush=True)


def serve(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            conn.close()
            return  # a readiness probe
        data += chunk
    size = int(data.split(b" ")[1].rsplit(b"/", 1)[-1])
    conn.settimeout(60)
    try:
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        conn.sendall(b"x" * size)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except OSError:
        pass
    conn.close()


while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
