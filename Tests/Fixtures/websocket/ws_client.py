#!/usr/bin/env python3
"""A real WebSocket client (PyPI/Debian `websockets`) for the gateway's tunnel tests, with a client certificate.

usage: ws_client.py URL CA CERT KEY MODE [ARG]   (CERT/KEY '-' for none; the URL's host resolves to 127.0.0.1
via --resolve-like connect: the TCP connection goes to 127.0.0.1:PORT, TLS names the URL's host)
modes:
  echo            text, binary, a 1.5 MiB binary message, ping/pong, client-initiated close; prints one line each
  concurrent N    N sessions at once, each echoing 20 messages; prints "sessions ok N"
  idle SECONDS    opens, stays silent SECONDS, then echoes once; prints "echo after idle ok" or how it closed
  status          prints "status N" of a refused handshake (or "open" when it was accepted)
  hold DIR        opens, echoes, prints "open"; each file DIR/ping-K that appears is echoed ("echoed K");
                  prints "closed CODE" when the server side ends the connection
  big MIB         one message of MIB MiB, echoed back; prints "big MIB True" when the echo is identical
  serverclose     asks the upstream to close (message "close-please"); prints "closed by server CODE"
"""
import asyncio
import os
import ssl
import sys
from urllib.parse import urlsplit

import websockets


def context(ca, cert, key):
    ctx = ssl.create_default_context(cafile=ca)
    if cert != "-":
        ctx.load_cert_chain(cert, key)
    return ctx


async def connect(url, ctx, **kwargs):
    parts = urlsplit(url)
    return await websockets.connect(
        url, ssl=ctx, host="127.0.0.1", port=parts.port, server_hostname=parts.hostname,
        max_size=64 * 1024 * 1024, open_timeout=15, close_timeout=10, **kwargs)


async def echo(url, ctx):
    ws = await connect(url, ctx)
    await ws.send("hello through the tunnel")
    print("text", await ws.recv() == "hello through the tunnel", flush=True)
    binary = bytes(range(256)) * 4
    await ws.send(binary)
    print("binary", await ws.recv() == binary, flush=True)
    large = os.urandom(3 * 512 * 1024)
    await ws.send(large)
    print("large", len(large), await ws.recv() == large, flush=True)
    pong = await ws.ping(b"are you there")
    await asyncio.wait_for(pong, 10)
    print("pong True", flush=True)
    await ws.close(code=1000, reason="done")
    print("closed", ws.close_code, ws.close_reason or "-", flush=True)


async def one_session(url, ctx, index):
    ws = await connect(url, ctx)
    for k in range(20):
        message = f"session {index} message {k}"
        await ws.send(message)
        if await ws.recv() != message:
            return False
    await ws.close()
    return True


async def concurrent(url, ctx, count):
    results = await asyncio.gather(*(one_session(url, ctx, i) for i in range(count)))
    print("sessions ok", sum(results), flush=True)


async def idle(url, ctx, seconds):
    # No keepalive pings: the session must be really silent for the gateway's idle timers.
    ws = await connect(url, ctx, ping_interval=None)
    await asyncio.sleep(seconds)
    try:
        await ws.send("still here")
        print("echo after idle ok" if await asyncio.wait_for(ws.recv(), 10) == "still here" else "wrong echo",
              flush=True)
        await ws.close()
    except websockets.ConnectionClosed as closed:
        print("closed after idle", closed.rcvd.code if closed.rcvd else "none", flush=True)


async def status(url, ctx):
    try:
        ws = await connect(url, ctx)
    except websockets.exceptions.InvalidStatusCode as refused:
        print("status", refused.status_code, flush=True)
        return
    print("open", flush=True)
    await ws.close()


async def hold(url, ctx, directory):
    ws = await connect(url, ctx, ping_interval=None)
    await ws.send("first")
    assert await ws.recv() == "first"
    print("open", flush=True)
    seen = set()
    try:
        while True:
            for name in sorted(os.listdir(directory)):
                if name.startswith("ping-") and name not in seen:
                    seen.add(name)
                    await ws.send(name)
                    if await asyncio.wait_for(ws.recv(), 10) == name:
                        print("echoed", name[5:], flush=True)
            try:
                await asyncio.wait_for(ws.recv(), 0.05)
            except asyncio.TimeoutError:
                pass
    except websockets.ConnectionClosed as closed:
        print("closed", closed.rcvd.code if closed.rcvd else "none", flush=True)


async def big(url, ctx, mebibytes):
    ws = await connect(url, ctx, ping_interval=None)
    data = os.urandom(mebibytes << 20)
    await ws.send(data)
    print("big", mebibytes, await asyncio.wait_for(ws.recv(), 120) == data, flush=True)
    await ws.close()


async def serverclose(url, ctx):
    ws = await connect(url, ctx)
    await ws.send("close-please")
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    print("closed by server", ws.close_code, flush=True)


def main():
    url, ca, cert, key, mode = sys.argv[1:6]
    arg = sys.argv[6] if len(sys.argv) > 6 else None
    ctx = context(ca, cert, key)
    try:
        if mode == "echo":
            asyncio.run(echo(url, ctx))
        elif mode == "concurrent":
            asyncio.run(concurrent(url, ctx, int(arg)))
        elif mode == "idle":
            asyncio.run(idle(url, ctx, float(arg)))
        elif mode == "status":
            asyncio.run(status(url, ctx))
        elif mode == "hold":
            asyncio.run(hold(url, ctx, arg))
        elif mode == "big":
            asyncio.run(big(url, ctx, int(arg)))
        elif mode == "serverclose":
            asyncio.run(serverclose(url, ctx))
    except (OSError, ssl.SSLError, websockets.WebSocketException, asyncio.TimeoutError) as error:
        print("failed", type(error).__name__, error, flush=True)


main()
