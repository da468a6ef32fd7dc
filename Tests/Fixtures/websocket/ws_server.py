#!/usr/bin/env python3
"""A real WebSocket upstream (`websockets`): echoes messages and closes the session itself (code 4000) when
asked with "close-please", so the close handshake also runs from the upstream's side.
usage: ws_server.py PORT"""
import asyncio
import sys

import websockets


async def handler(ws, path=None):
    async for message in ws:
        if message == "close-please":
            await ws.close(code=4000, reason="asked to")
            return
        await ws.send(message)


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, max_size=64 * 1024 * 1024):
        print("listening", port, flush=True)
        await asyncio.Future()


asyncio.run(main(int(sys.argv[1])))
