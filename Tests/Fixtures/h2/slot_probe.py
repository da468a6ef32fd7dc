#!/usr/bin/env python3
"""Ends HTTP/2 streams that wait on an upstream at awkward moments (reset, GOAWAY, a dropped connection), or
waits for their answers (`answered`: timeouts, retries, failed upstreams), for the
tests that their --max-connections slots come back. Prints one JSON object.

    slot_probe.py SCENARIO --port P --host H --ca CA --cert CRT --key KEY [--streams N] [--path PATH]
"""
import argparse
import json
import sys
import time

import h2.errors
import h2.exceptions

sys.path.insert(0, __import__("os").path.dirname(__file__))
from h2_probe import Outcome, connect, pump, request_headers  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--path", default="/delay/2")
    parser.add_argument("--wait", type=float, default=0.5)
    args = parser.parse_args()
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
    elif args.scenario == "drop":
        pass
    elif args.scenario == "answered":
        done = lambda o: all(o.stream(s)["ended"] or o.stream(s)["reset"] is not None for s in ids)
        pump(tls, conn, outcome, done, seconds=20)
    tls.close()
    statuses = {}
    for sid in ids:
        status = outcome.stream(sid)["status"]
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    print(json.dumps({"statuses": statuses}))


main()
