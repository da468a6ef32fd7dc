#!/usr/bin/env python3
"""Ends HTTP/2 streams that wait on an upstream at awkward moments (reset, GOAWAY, a dropped connection), or
waits for their answers (`answered`: timeouts, retries, failed upstreams), for the
tests that their --max-connections slots come back. Prints one JSON object.

    slot_probe.py SCENARIO --port P --host H --ca CA --cert CRT --key KEY [--streams N] [--path PATH]
"""
import sys

import h2.errors
import h2.exceptions

sys.path.insert(0, __import__("os").path.dirname(__file__))
from h2_probe import Outcome, connect, pump, request_headers, run, status_counts  # noqa: E402


def open_streams(args):
    tls, conn = connect(args)
    ids = []
    for _ in range(args.streams):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers(args, args.path), end_stream=True)
        ids.append(sid)
    tls.sendall(conn.data_to_send())
    outcome = Outcome()
    # The streams reach the gateway in a read of their own, so it forwards them before what follows.
    pump(tls, conn, outcome, lambda o: False, seconds=args.wait)
    return tls, conn, ids, outcome


def probe(args):
    tls, conn, ids, outcome = open_streams(args)
    if args.scenario == "reset":
        for sid in ids:
            try:
                conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            except h2.exceptions.StreamClosedError:  # answered already (503 when no slot was free)
                pass
        tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, lambda o: False, seconds=0.5)
    elif args.scenario == "goaway":
        conn.close_connection()
        tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, lambda o: False, seconds=0.5)
    elif args.scenario == "answered":
        done = lambda o: all(o.stream(s)["ended"] or o.stream(s)["reset"] is not None for s in ids)
        pump(tls, conn, outcome, done, seconds=20)
    # "drop": the socket closes with the streams still waiting.
    tls.close()
    return {"statuses": status_counts(outcome, ids)}


run({name: probe for name in ("reset", "goaway", "drop", "answered")},
    ("--streams", dict(type=int, default=20)), ("--path", dict(default="/delay/2")),
    ("--wait", dict(type=float, default=0.5)))
