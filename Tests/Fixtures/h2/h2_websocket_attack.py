#!/usr/bin/env python3
"""Attacks on WebSocket over HTTP/2 (RFC 8441) for HTTP2WebSocketAttackTests, on PyPI `h2`: what a hostile client
does with an extended CONNECT stream that h2_websocket.py's well-behaved scenarios don't. Prints one JSON object.

    h2_websocket_attack.py SCENARIO --port P --host H --ca CA --cert CRT --key KEY [options]

Every scenario is bounded: socket timeouts and a fixed amount of data.
"""
import sys
import time

import h2.exceptions
import h2.settings

sys.dont_write_bytecode = True  # importing the other fixtures leaves no __pycache__ in the repository
from h2_probe import finished, pump, request_headers, run
from h2_websocket import answered, handshake_headers, open_connection

SMUGGLED = b"GET /anything/admin HTTP/1.1\r\nHost: server\r\n\r\n"


def scenario_data_during_response(args):
    """An extended CONNECT to a path whose upstream answers with an ordinary response instead of a 101: once the
    response head is in (its body held back by the client's window, or not sent at all), DATA that is an HTTP/1.1
    request; then the response is read for `--seconds` or until it shows an HTTP/1.1 response of its own."""
    tls, conn, outcome = open_connection(args)
    conn.send_headers(1, handshake_headers(args, args.path))
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, answered(1), ack=lambda sid: False)
    s = outcome.stream(1)
    result = {"status": s["status"]}
    if s["reset"] is None and not outcome.closed:
        try:
            conn.send_data(1, SMUGGLED)
        except h2.exceptions.StreamClosedError:
            result["data_refused"] = True
        if s["body"]:
            conn.acknowledge_received_data(len(s["body"]), 1)
        tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: finished(1)(o) or b"HTTP/1.1 " in s["body"], seconds=args.seconds)
    result.update(ended=s["ended"], reset=s["reset"], received=len(s["body"]),
                  smuggled_response=b"HTTP/1.1 " in s["body"])
    sid = conn.get_next_available_stream_id() if outcome.goaway is None and not outcome.closed else None
    if sid:
        conn.send_headers(sid, request_headers(args, "/uuid"), end_stream=True)
        tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, finished(sid))
        result["next_status"] = outcome.stream(sid)["status"]
    return result


def open_tunnels(args, tls, conn, outcome, ack=lambda sid: True):
    """Asks for `--count` tunnels at once and waits until each is answered: their stream ids, and how many got 200."""
    sids = []
    for _ in range(args.count):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, handshake_headers(args, args.path))
        sids.append(sid)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: all(answered(sid)(o) for sid in sids), seconds=30, ack=ack)
    return sids, sum(1 for sid in sids if outcome.stream(sid)["status"] == 200)


def scenario_hold_many(args):
    """`--count` tunnels on one connection (the server's stream limit allows 100), held for `--seconds`: prints
    `open N` (N answered 200, and the other statuses) once all are answered, then `ended K` when the server has
    ended K of them, at the latest when the time is up."""
    tls, conn, outcome = open_connection(args)
    sids, _ = open_tunnels(args, tls, conn, outcome)
    statuses = [outcome.stream(sid)["status"] for sid in sids]
    opened = [sid for sid in sids if outcome.stream(sid)["status"] == 200]
    others = sorted({str(st) for st in statuses if st != 200})
    print("open", len(opened), " ".join(others), flush=True)

    def gone(o):
        return o.closed or all(o.stream(sid)["reset"] is not None or o.stream(sid)["ended"] for sid in opened)

    deadline = time.time() + args.seconds
    while time.time() < deadline and not gone(outcome):
        pump(tls, conn, outcome, gone, seconds=min(1, max(0.05, deadline - time.time())))
    ended = sum(1 for sid in opened if outcome.closed or outcome.stream(sid)["reset"] is not None
                or outcome.stream(sid)["ended"])
    print("ended", ended, flush=True)
    return {"opened": len(opened), "statuses": others, "ended": ended}


def scenario_upstream_head(args):
    """One extended CONNECT with `--header` fields (and `--protocol`) to an upstream that sends back the request
    head it received (head_echo_upstream.py): prints the status and that head. `--early`: DATA right behind the
    HEADERS, which must wait for the upstream's 101 (the upstream sends back only what came with the head)."""
    tls, conn, outcome = open_connection(args)
    extra = [tuple(h.split(": ", 1)) for h in args.header]
    headers = handshake_headers(args, args.path, protocol=args.protocol, extra=extra)
    conn.send_headers(1, headers)
    if args.early:
        conn.send_data(1, SMUGGLED)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, finished(1))
    s = outcome.stream(1)
    return {"status": s["status"], "reset": s["reset"], "head": bytes(s["body"]).decode("latin-1")}


def scenario_reset_storm(args):
    """Tunnels opened 50 at a time and reset (RST_STREAM CANCEL) as soon as each is answered, until `--count` were
    answered or the server ends the connection: prints how many opened and the GOAWAY code, if any."""
    tls, conn, outcome = open_connection(args)
    opened = answered_count = 0
    while answered_count < args.count and outcome.goaway is None and not outcome.closed:
        sids = []
        for _ in range(min(50, args.count - answered_count)):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, handshake_headers(args, args.path))
            sids.append(sid)
        tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, lambda o: all(answered(sid)(o) for sid in sids))
        for sid in sids:
            if answered(sid)(outcome):
                answered_count += 1
                opened += outcome.stream(sid)["status"] == 200
            try:
                conn.reset_stream(sid, error_code=8)
            except h2.exceptions.ProtocolError:  # the stream, or the connection, is closed already
                pass
        try:
            tls.sendall(conn.data_to_send())
        except OSError:
            outcome.closed = True
    pump(tls, conn, outcome, lambda o: False, seconds=0.2)
    return {"answered": answered_count, "opened": opened, "goaway": outcome.goaway, "closed": outcome.closed}


def scenario_stall(args):
    """`--count` tunnels on a connection whose client grants no window at all (SETTINGS_INITIAL_WINDOW_SIZE 0, and
    never a WINDOW_UPDATE) while their upstream floods them: prints `open N` once all are answered, then holds
    them `--seconds` and prints what the server managed to send."""
    tls, conn, outcome = open_connection(args)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    nothing = lambda sid: False  # noqa: E731
    sids, opened = open_tunnels(args, tls, conn, outcome, ack=nothing)
    print("open", opened, flush=True)
    deadline = time.time() + args.seconds
    while time.time() < deadline and not outcome.closed:
        pump(tls, conn, outcome, lambda o: False, seconds=min(1, max(0.05, deadline - time.time())), ack=nothing)
    return {"opened": opened, "received": sum(len(outcome.stream(sid)["body"]) for sid in sids),
            "closed": outcome.closed}


SCENARIOS = {
    "stall": scenario_stall,
    "reset_storm": scenario_reset_storm,
    "upstream_head": scenario_upstream_head,
    "hold_many": scenario_hold_many,
    "data_during_response": scenario_data_during_response,
}

if __name__ == "__main__":
    run(SCENARIOS, ("--path", dict(default="/ws/echo")), ("--version", dict(default="13")),
        ("--protocol", dict(default="websocket")), ("--header", dict(action="append", default=[])),
        ("--early", dict(action="store_true")), ("--authority", dict(default="")),
        ("--count", dict(type=int, default=1)), ("--seconds", dict(type=float, default=5)))
