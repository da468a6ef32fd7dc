"""What the HTTP/1.1 fixture upstreams here share: a threaded loopback listener and reading a request head."""
import socket
import threading


def read_head(connection):
    """The bytes received up to and including the end of the request head (and whatever came with them), or
    None when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


def serve_forever(port, serve, configure=lambda connection: None):
    """Accepts on 127.0.0.1:`port` and runs `serve(connection)` on a thread of its own per connection, after
    `configure(connection)`."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    while True:
        connection, _ = listener.accept()
        configure(connection)
        threading.Thread(target=serve, args=(connection,), daemon=True).start()
