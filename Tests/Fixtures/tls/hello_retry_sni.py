#!/usr/bin/env python3
"""Sends a TLS 1.3 ClientHello without a key share (so the server must answer HelloRetryRequest), then a
second ClientHello whose SNI may differ from the first, and prints what the server answered to it:
"server-hello" or "alert N". Raw bytes only; nothing past the server's first answer to the second hello.
usage: hello_retry_sni.py PORT FIRST_SNI SECOND_SNI   ("-" leaves the extension out)"""
import os
import socket
import struct
import sys

HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def u8(x): return struct.pack("!B", x)
def u16(x): return struct.pack("!H", x)
def u24(x): return struct.pack("!I", x)[1:]
def vec8(b): return u8(len(b)) + b
def vec16(b): return u16(len(b)) + b
def ext(kind, body): return u16(kind) + vec16(body)


def hello(sni, key_share, session_id, cookie):
    exts = b"" if sni == "-" else ext(0, vec16(u8(0) + vec16(sni.encode())))
    exts += ext(10, vec16(u16(0x001d)))                             # supported_groups: x25519
    exts += ext(13, vec16(u16(0x0403) + u16(0x0804) + u16(0x0401)))  # signature_algorithms
    exts += ext(43, vec8(u16(0x0304)))                               # supported_versions: TLS 1.3
    exts += ext(45, vec8(u8(1)))                                     # psk_key_exchange_modes
    if cookie is not None:
        exts += ext(44, vec16(cookie))
    exts += ext(51, vec16(key_share))                                # key_share
    body = u16(0x0303) + os.urandom(32) + vec8(session_id) + vec16(u16(0x1301)) + vec8(b"\x00") + vec16(exts)
    return u8(1) + u24(len(body)) + body


def main():
    port, first, second = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    pending = b""

    def record():
        nonlocal pending
        while len(pending) < 5 or len(pending) < 5 + struct.unpack("!H", pending[3:5])[0]:
            data = sock.recv(65536)
            if not data:
                raise EOFError
            pending += data
        length = struct.unpack("!H", pending[3:5])[0]
        content_type, body = pending[0], pending[5:5 + length]
        pending = pending[5 + length:]
        return content_type, body

    def send(message):
        sock.sendall(u8(22) + u16(0x0301) + vec16(message))

    session_id = os.urandom(32)
    send(hello(first, b"", session_id, None))
    content_type, body = record()
    if content_type == 21:
        print("alert %d" % body[1])
        return
    if body[0] != 2 or body[6:38] != HRR_RANDOM:
        print("no hello-retry-request")
        return
    cookie = None
    rest = body[4 + 2 + 32:]
    rest = rest[1 + rest[0] + 3:]
    extensions = rest[2:]
    while extensions:
        kind, length = struct.unpack("!HH", extensions[:4])
        if kind == 44:
            cookie = extensions[4 + 2:4 + length]
        extensions = extensions[4 + length:]
    send(hello(second, u16(0x001d) + vec16(os.urandom(32)), session_id, cookie))
    while True:
        try:
            content_type, body = record()
        except (EOFError, socket.timeout):
            print("closed")
            return
        if content_type == 20:   # change_cipher_spec (middlebox compatibility)
            continue
        print("alert %d" % body[1] if content_type == 21 else ("server-hello" if body[0] == 2 else "handshake %d" % body[0]))
        return


main()
