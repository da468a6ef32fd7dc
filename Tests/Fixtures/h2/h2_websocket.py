#!/usr/bin/env python3
"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT) for the gateway's tests, on PyPI `h2`: the handshake as a
browser sends it and what a hostile client sends instead, WebSocket frames (RFC 6455) in DATA both ways. Prints
one JSON object saying what the server did.

    h2_websocket.py SCENARIO --port P --host H --ca CA --cert CRT --key KEY [options]

Every scenario is bounded: socket timeouts and a fixed amount of data.
"""
import collections
import hashlib
import os
import sys
import time

import h2.connection
import h2.events
import h2.exceptions

sys.dont_write_bytecode = True  # importing h2_probe leaves no __pycache__ in the repository
from h2_probe import Outcome, connect, finished, pump, request_headers, run

ENABLE_CONNECT_PROTOCOL = 0x8


def frame(opcode, payload, fin=True):
    """A client frame: masked (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload)) if n < 65536 else mask_large(payload, mask)
    return head + mask + masked


def mask_large(payload, mask):
    key = int.from_bytes((mask * ((len(payload) + 3) // 4))[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


def frames(buffer):
    """Server frames (unmasked) at the front of `buffer`: [(opcode, payload)], rest."""
    out = []
    while len(buffer) >= 2:
        opcode, n, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if n == 126:
            if len(buffer) < 4:
                break
            n, offset = int.from_bytes(buffer[2:4], "big"), 4
        elif n == 127:
            if len(buffer) < 10:
                break
            n, offset = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < offset + n:
            break
        out.append((opcode, buffer[offset:offset + n]))
        buffer = buffer[offset + n:]
    return out, buffer


class Tunnels(Outcome):
    """An outcome whose stream bodies are bytearrays: a large echo is appended to in place."""

    def stream(self, sid):
        if sid not in self.streams:
            self.streams[sid] = {"status": None, "body": bytearray(), "reset": None, "ended": False, "headers": {}}
        return self.streams[sid]


def answered(sid):
    return lambda o: sid in o.streams and (o.streams[sid]["status"] is not None or o.streams[sid]["reset"] is not None)


def open_connection(args):
    tls, conn = connect(args)
    outcome = Tunnels()
    pump(tls, conn, outcome, lambda o: o.settings_seen, seconds=3)
    outcome.advertised = conn.remote_settings._settings.get(ENABLE_CONNECT_PROTOCOL, [None])[0]
    # The client library refuses :protocol unless the server allowed it; a hostile client sends it anyway.
    conn.remote_settings._settings[ENABLE_CONNECT_PROTOCOL] = collections.deque([1])
    return tls, conn, outcome


def handshake_headers(args, path, method="CONNECT", protocol="websocket", extra=()):
    headers = [(":method", method)]
    if protocol:
        headers.append((":protocol", protocol))
    if method == "CONNECT" and not protocol:  # a plain CONNECT (RFC 9113 §8.5): a TCP tunnel to :authority
        headers.append((":authority", args.authority or args.host + ":443"))
    else:
        headers += [(":scheme", "https"), (":authority", args.authority or args.host), (":path", path)]
    if args.version:
        headers.append(("sec-websocket-version", args.version))
    return headers + list(extra)


def messages_of(outcome, sid):
    parsed, _ = frames(outcome.stream(sid)["body"])
    return parsed


def echo_session(tls, conn, outcome, sid, texts):
    """Sends each text as a message and a ping, waits for their echoes, then the close handshake; returns the
    messages echoed, whether the server ended the stream after its close frame."""
    for text in texts:
        conn.send_data(sid, frame(0x1, text.encode()))
    conn.send_data(sid, frame(0x9, b"ping"))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: len(messages_of(o, sid)) >= len(texts) + 1)
    conn.send_data(sid, frame(0x8, (1000).to_bytes(2, "big") + b"done"))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: o.stream(sid)["ended"] or o.stream(sid)["reset"] is not None)
    pump(tls, conn, outcome, lambda o: o.stream(sid)["reset"] is not None, seconds=0.5)
    if outcome.stream(sid)["ended"] and outcome.stream(sid)["reset"] is None:
        conn.end_stream(sid)
        tls.sendall(conn.data_to_send())
    got = messages_of(outcome, sid)
    return {"echoed": [p.decode("utf-8", "replace") for op, p in got if op == 0x1],
            "pong": any(op == 0xA and p == b"ping" for op, p in got),
            "close": next((int.from_bytes(p[:2], "big") for op, p in got if op == 0x8), None),
            "ended": outcome.stream(sid)["ended"], "reset": outcome.stream(sid)["reset"]}


def next_request(args, tls, conn, outcome, result):
    """A normal request after the scenario: the connection still serves."""
    if outcome.goaway is not None or outcome.closed:
        return result
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, request_headers(args, "/uuid"), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, finished(sid))
    result["next_status"] = outcome.stream(sid)["status"]
    return result


def scenario_connect(args):
    """One extended CONNECT as the options say; a WebSocket session on a 200; `--smuggle`: DATA that looks like
    an HTTP/1.1 request and a WebSocket frame sent right behind the handshake, whatever the answer."""
    tls, conn, outcome = open_connection(args)
    extra = [tuple(h.split(": ", 1)) for h in args.header]
    conn.send_headers(1, handshake_headers(args, args.path, args.method, args.protocol, extra),
                      end_stream=args.end_stream)
    if args.smuggle:
        conn.send_data(1, b"GET /admin/secret HTTP/1.1\r\nHost: " + args.host.encode() + b"\r\n\r\n")
        conn.send_data(1, frame(0x1, b"smuggled"))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, answered(1))
    s = outcome.stream(1)
    if args.smuggle_after and s["status"] != 200 and s["reset"] is None:
        try:
            conn.send_data(1, b"GET /admin/secret HTTP/1.1\r\nHost: " + args.host.encode() + b"\r\n\r\n")
            tls.sendall(conn.data_to_send())
        except h2.exceptions.StreamClosedError:
            pass
    result = {"advertised": outcome.advertised, "status": s["status"], "reset": s["reset"],
              "headers": {k: v for k, v in s["headers"].items() if not k.startswith(":")},
              "goaway": outcome.goaway, "closed": outcome.closed}
    if s["status"] == 200:
        result.update(echo_session(tls, conn, outcome, 1, ["hello over h2", "second message"]))
    else:
        pump(tls, conn, outcome, finished(1), seconds=3)
        result["body"] = s["body"][:300].decode("utf-8", "replace")
        result["ended"] = s["ended"]
    return next_request(args, tls, conn, outcome, result)


def scenario_flood_after_refusal(args):
    """A refused request (an extended CONNECT, or with `--method POST --protocol ''` an upload) whose client goes
    on sending DATA (1 MiB, as the window allows)."""
    tls, conn, outcome = open_connection(args)
    conn.send_headers(1, handshake_headers(args, args.path, args.method, args.protocol))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, answered(1))
    sent = 0
    chunk = b"x" * 16384
    while sent < (1 << 20) and outcome.stream(1)["reset"] is None and not outcome.closed:
        window = min(conn.local_flow_control_window(1), len(chunk))
        if window <= 0:
            pump(tls, conn, outcome, lambda o: conn.local_flow_control_window(1) > 0 or o.stream(1)["reset"],
                    seconds=3)
            if conn.local_flow_control_window(1) <= 0:
                break
            continue
        try:
            conn.send_data(1, chunk[:window])
        except h2.exceptions.StreamClosedError:
            break
        sent += window
        tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, lambda o: False, seconds=0.01)
    pump(tls, conn, outcome, lambda o: o.stream(1)["reset"] is not None, seconds=3)
    result = {"status": outcome.stream(1)["status"], "reset": outcome.stream(1)["reset"], "sent": sent}
    return next_request(args, tls, conn, outcome, result)


def scenario_multiplex(args):
    """Two tunnels and normal requests on one connection, their messages interleaved."""
    tls, conn, outcome = open_connection(args)
    conn.send_headers(1, handshake_headers(args, args.path))
    conn.send_headers(3, request_headers(args, "/uuid"), end_stream=True)
    conn.send_headers(5, handshake_headers(args, args.path))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: answered(1)(o) and finished(3)(o) and answered(5)(o))
    statuses = [outcome.stream(s)["status"] for s in (1, 3, 5)]
    for i in range(10):
        conn.send_data(1, frame(0x1, b"a-%d" % i))
        conn.send_data(5, frame(0x1, b"b-%d" % i))
    conn.send_headers(7, request_headers(args, "/get"), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: len(messages_of(o, 1)) >= 10 and len(messages_of(o, 5)) >= 10
            and finished(7)(o))
    statuses.append(outcome.stream(7)["status"])
    a = [p.decode() for op, p in messages_of(outcome, 1) if op == 0x1]
    b = [p.decode() for op, p in messages_of(outcome, 5) if op == 0x1]
    for sid in (1, 5):
        conn.send_data(sid, frame(0x8, (1000).to_bytes(2, "big")), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: o.stream(1)["ended"] and o.stream(5)["ended"])
    return {"statuses": statuses, "a": a, "b": b, "ended": [outcome.stream(1)["ended"], outcome.stream(5)["ended"]]}


def scenario_large(args):
    """One message of `--megabytes` MiB sent as the stream's window allows, its echo read at the same time."""
    tls, conn, outcome = open_connection(args)
    conn.increment_flow_control_window(16 << 20)
    conn.send_headers(1, handshake_headers(args, args.path))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, answered(1))
    if outcome.stream(1)["status"] != 200:
        return {"status": outcome.stream(1)["status"]}
    payload = os.urandom(args.megabytes << 20)
    message = frame(0x2, payload)
    offset = 0
    expected = len(message) - 4 - 8  # the echo is unmasked: no mask key
    deadline = time.time() + 120
    echoed = outcome.stream(1)
    while time.time() < deadline and not outcome.closed and echoed["reset"] is None:
        while offset < len(message):
            window = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size, len(message) - offset)
            if window <= 0:
                break
            conn.send_data(1, message[offset:offset + window])
            offset += window
        tls.sendall(conn.data_to_send())
        if len(echoed["body"]) >= expected:
            break
        pump(tls, conn, outcome, lambda o: len(o.stream(1)["body"]) >= expected,
                seconds=0.01 if offset < len(message) else 0.5)
    got, _ = frames(echoed["body"])
    same = len(got) >= 1 and hashlib.sha256(got[0][1]).digest() == hashlib.sha256(payload).digest()
    conn.send_data(1, frame(0x8, (1000).to_bytes(2, "big")), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: o.stream(1)["ended"], seconds=5)
    return {"status": 200, "sent": offset, "received": len(echoed["body"]), "same": same,
            "ended": echoed["ended"]}


def scenario_idle(args):
    """A tunnel that carries nothing: how long until the server ends it, and how."""
    tls, conn, outcome = open_connection(args)
    conn.send_headers(1, handshake_headers(args, args.path))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, answered(1))
    start = time.time()
    pump(tls, conn, outcome, lambda o: o.stream(1)["reset"] is not None or o.stream(1)["ended"], seconds=30)
    s = outcome.stream(1)
    return {"status": s["status"], "reset": s["reset"], "ended": s["ended"], "seconds": time.time() - start,
            "goaway": outcome.goaway, "closed": outcome.closed}


def scenario_hold(args):
    """A tunnel kept open for `--hold` seconds: prints `open`, echoes each `ping-K` file that appears in `--pings`
    as message K (printing `echoed K`), and prints `closed` when the server ends the stream or the connection."""
    tls, conn, outcome = open_connection(args)
    conn.send_headers(1, handshake_headers(args, args.path))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, answered(1))
    s = outcome.stream(1)
    if s["status"] != 200:
        print("failed", s["status"], s["reset"], flush=True)
        return {"status": s["status"]}
    print("open", flush=True)
    sent, reported = set(), 0
    deadline = time.time() + args.hold
    while time.time() < deadline:
        for name in sorted(os.listdir(args.pings)) if os.path.isdir(args.pings) else []:
            if name.startswith("ping-") and name not in sent and s["reset"] is None and not outcome.closed:
                sent.add(name)
                conn.send_data(1, frame(0x1, name[5:].encode()))
                tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, lambda o: False, seconds=0.1)
        if outcome.goaway is not None and conn.state_machine.state == h2.connection.ConnectionState.CLOSED:
            # RFC 9113 §6.8: streams up to GOAWAY's last stream go on; the library would close them all.
            conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        echoed = [p.decode() for op, p in messages_of(outcome, 1) if op == 0x1]
        for text in echoed[reported:]:
            print("echoed", text, flush=True)
        reported = len(echoed)
        if s["reset"] is not None or s["ended"] or outcome.closed:
            print("closed", s["reset"], s["ended"], outcome.goaway, flush=True)
            break
    return {"status": 200, "reset": s["reset"], "ended": s["ended"], "goaway": outcome.goaway}


SCENARIOS = {
    "hold": scenario_hold,
    "idle": scenario_idle,
    "connect": scenario_connect,
    "flood_after_refusal": scenario_flood_after_refusal,
    "multiplex": scenario_multiplex,
    "large": scenario_large,
}

if __name__ == "__main__":
    run(SCENARIOS, ("--path", dict(default="/ws/echo")), ("--method", dict(default="CONNECT")),
        ("--protocol", dict(default="websocket")), ("--version", dict(default="13")),
        ("--authority", dict(default="")), ("--header", dict(action="append", default=[])),
        ("--smuggle", dict(action="store_true")), ("--smuggle-after", dict(action="store_true")),
        ("--end-stream", dict(action="store_true")), ("--megabytes", dict(type=int, default=32)),
        ("--pings", dict(default="")), ("--hold", dict(type=float, default=60)))
