#!/usr/bin/env python3
"""A raw HTTP/2 client (PyPI `h2`) for the gateway's HTTP/2 tests: it sends what curl won't (malformed headers,
resets, floods) and prints one JSON object saying what the server did.

    h2_probe.py SCENARIO --port P --host H --ca CA --cert CRT --key KEY

Every scenario is bounded: a socket timeout and a fixed number of frames.
"""
import argparse
import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from hyperframe.frame import ContinuationFrame, HeadersFrame


def connect(args):
    context = ssl.create_default_context(cafile=args.ca)
    if args.cert:  # an empty --cert: a client without a certificate
        context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    tls = context.wrap_socket(raw, server_hostname=args.host)
    assert tls.selected_alpn_protocol() == "h2", tls.selected_alpn_protocol()
    config = h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    return tls, conn


class Outcome:
    def __init__(self):
        self.streams = {}
        self.goaway = None
        self.closed = False
        self.settings_seen = False

    def stream(self, sid):
        return self.streams.setdefault(sid, {"status": None, "body": b"", "reset": None, "ended": False})


def pump(tls, conn, outcome, until, seconds=10, ack=lambda sid: True):
    """Reads until `until(outcome)` holds, the server closes, or `seconds` pass."""
    deadline = time.time() + seconds
    while not until(outcome) and time.time() < deadline and not outcome.closed:
        tls.settimeout(max(0.05, deadline - time.time()))
        try:
            data = tls.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionError):
            break
        if not data:
            outcome.closed = True
            break
        try:
            events = conn.receive_data(data)
        except Exception as error:  # the server broke a rule the client library enforces
            outcome.closed = True
            outcome.error = str(error)
            break
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                s = outcome.stream(event.stream_id)
                s["headers"] = dict(event.headers)
                s["status"] = int(s["headers"][":status"])
            elif isinstance(event, h2.events.DataReceived):
                outcome.stream(event.stream_id)["body"] += event.data
                if ack(event.stream_id):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                outcome.stream(event.stream_id)["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                outcome.stream(event.stream_id)["reset"] = int(event.error_code)
            elif isinstance(event, h2.events.ConnectionTerminated):
                outcome.goaway = int(event.error_code)
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                outcome.settings_seen = True
        pending = conn.data_to_send()
        if pending:
            try:
                tls.sendall(pending)
            except (OSError, ssl.SSLError):
                outcome.closed = True
    return outcome


def request_headers(args, path="/get", extra=()):
    return [(":method", "GET"), (":scheme", "https"), (":authority", args.host), (":path", path)] + list(extra)


def finished(sid):
    return lambda o: sid in o.streams and (o.streams[sid]["ended"] or o.streams[sid]["reset"] is not None)


def status_counts(outcome, ids):
    """How many of the streams `ids` got each status, by its text ("None" for a stream that got none)."""
    counts = {}
    for sid in ids:
        status = str(outcome.stream(sid)["status"])
        counts[status] = counts.get(status, 0) + 1
    return counts


def run(scenarios, *options):
    """The command line every probe takes (SCENARIO --port P --host H --ca CA --cert CRT --key KEY; an empty
    --cert: a client without a certificate) and the script's own `options`, (flag, keyword arguments) pairs;
    runs the scenario and prints its JSON result. Returns the parsed arguments."""
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(scenarios))
    parser.add_argument("--port", type=int, required=True)
    for name in ("host", "ca", "cert", "key"):
        parser.add_argument("--" + name, required=True)
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
    arguments = parser.parse_args()
    print(json.dumps(scenarios[arguments.scenario](arguments)))
    sys.stdout.flush()
    return arguments


def report(outcome, sid=None):
    result = {"goaway": outcome.goaway, "closed": outcome.closed}
    if sid is not None:
        s = outcome.stream(sid)
        result.update(status=s["status"], reset=s["reset"], body=s["body"][:300].decode("utf-8", "replace"))
    return result


def malformed(args, extra, pseudo=None):
    """One request with the given fields; then a well-formed one on the same connection."""
    tls, conn = connect(args)
    outcome = Outcome()
    headers = pseudo if pseudo is not None else request_headers(args)
    conn.send_headers(1, headers + list(extra), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, finished(1))
    result = report(outcome, 1)
    if outcome.goaway is None and not outcome.closed:
        conn.send_headers(3, request_headers(args, "/uuid"), end_stream=True)
        tls.sendall(conn.data_to_send())
        pump(tls, conn, outcome, finished(3))
        result["next_status"] = outcome.stream(3)["status"]
    return result


def scenario_content_length_mismatch(args):
    tls, conn = connect(args)
    outcome = Outcome()
    headers = [(":method", "POST"), (":scheme", "https"), (":authority", args.host), (":path", "/anything"),
               ("content-length", "10")]
    conn.send_headers(1, headers)
    conn.send_data(1, b"short", end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, finished(1))
    return report(outcome, 1)


def concurrent_streams(args, count):
    """Opens `count` streams at once against a slow path; the server's SETTINGS allows 100."""
    tls, conn = connect(args)
    outcome = Outcome()
    pump(tls, conn, outcome, lambda o: False, seconds=0.5)  # the server's SETTINGS
    advertised = conn.remote_settings.max_concurrent_streams
    # Lift the client library's own view of the limit, to send what a hostile client would.
    conn.remote_settings._settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = [1000]
    ids = []
    for i in range(count):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers(args, "/delay/1"), end_stream=True)
        ids.append(sid)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: all(finished(s)(o) for s in ids), seconds=20)
    statuses = [outcome.stream(s)["status"] for s in ids]
    resets = [outcome.stream(s)["reset"] for s in ids]
    return {"ok": statuses.count(200), "statuses": status_counts(outcome, ids),
            "refused": sum(1 for r in resets if r is not None),
            "goaway": outcome.goaway, "advertised": advertised,
            "resets": sorted(set(r for r in resets if r is not None)), "error": getattr(outcome, "error", None)}


def scenario_rapid_reset(args):
    """CVE-2023-44487: HEADERS then RST_STREAM, 1000 times, as fast as the socket takes them."""
    tls, conn = connect(args)
    outcome = Outcome()
    sent = 0
    try:
        for i in range(1000):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, request_headers(args, "/delay/1"), end_stream=True)
            conn.reset_stream(sid)
            tls.sendall(conn.data_to_send())
            sent += 1
    except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
        pass
    pump(tls, conn, outcome, lambda o: o.goaway is not None, seconds=10)
    return {"sent": sent, "goaway": outcome.goaway, "closed": outcome.closed}


def scenario_continuation_flood(args):
    """CVE-2024-27316 class: HEADERS without END_HEADERS, then CONTINUATION frames that never end."""
    tls, conn = connect(args)
    outcome = Outcome()
    block = conn.encoder.encode(request_headers(args))
    first = HeadersFrame(1, flags=["END_STREAM"], data=block)
    tls.sendall(first.serialize())
    sent = 0
    try:
        for i in range(100000):
            frame = ContinuationFrame(1, data=conn.encoder.encode([("x-flood-%d" % i, "a" * 100)]))
            tls.sendall(frame.serialize())
            sent += 1
    except (OSError, ssl.SSLError):
        pass
    # The client library never saw the raw frames; read the server's answer at the frame level.
    deadline = time.time() + 10
    closed = False
    goaway = None
    buffer = b""
    while time.time() < deadline:
        try:
            data = tls.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionError):
            break
        if not data:
            closed = True
            break
        buffer += data
    # Walk the frames: type 7 is GOAWAY, its error code the 4 bytes after last-stream-id.
    offset = 0
    while offset + 9 <= len(buffer):
        length = int.from_bytes(buffer[offset:offset + 3], "big")
        kind = buffer[offset + 3]
        if kind == 7 and offset + 9 + 8 <= len(buffer):
            goaway = int.from_bytes(buffer[offset + 13:offset + 17], "big")
        offset += 9 + length
    return {"sent": sent, "goaway": goaway, "closed": closed}


def scenario_slow_stream(args):
    """Two streams on one connection: a large download the client never acknowledges, and a small one."""
    tls, conn = connect(args)
    outcome = Outcome()
    conn.increment_flow_control_window(64 * 1024 * 1024)  # connection level only
    tls.sendall(conn.data_to_send())
    conn.send_headers(1, request_headers(args, "/bytes/20000000"), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, lambda o: len(o.stream(1)["body"]) >= 65535, seconds=10, ack=lambda sid: sid != 1)
    conn.send_headers(3, request_headers(args, "/uuid"), end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, finished(3), seconds=10, ack=lambda sid: sid != 1)
    return {"slow_received": len(outcome.stream(1)["body"]), "fast_status": outcome.stream(3)["status"],
            "fast_ended": outcome.stream(3)["ended"]}


def scenario_refused_streams(args):
    """No certificate on a MUTUAL block: an oversized request, then 100 streams at a time, 5 times."""
    tls, conn = connect(args)
    outcome = Outcome()
    conn.send_headers(1, request_headers(args) + [("x-big-%d" % i, "b" * 4000) for i in range(20)], end_stream=True)
    tls.sendall(conn.data_to_send())
    pump(tls, conn, outcome, finished(1))
    sent = 1
    try:
        for batch in range(5):
            ids = []
            for i in range(100):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, request_headers(args), end_stream=True)
                ids.append(sid)
            tls.sendall(conn.data_to_send())
            sent += len(ids)
            pump(tls, conn, outcome, lambda o: all(finished(s)(o) for s in ids), seconds=10)
            if outcome.goaway is not None or outcome.closed:
                break
    except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
        pass
    pump(tls, conn, outcome, lambda o: o.goaway is not None, seconds=3)
    streams = outcome.streams.values()
    return {"first_status": outcome.stream(1)["status"], "first_reset": outcome.stream(1)["reset"], "sent": sent,
            "statuses": sorted(set(s["status"] for s in streams if s["status"] is not None)),
            "refused": sum(1 for s in streams if s["reset"] == 13), "goaway": outcome.goaway,
            "closed": outcome.closed}


def scenario_never_read(args):
    """20 streams of `--size` bytes; the client grants no window beyond the initial 64 KiB (or, with `--grant`,
    all it can) and reads nothing for `--wait` seconds; then it reads (granting nothing more) to see what the
    server did meanwhile."""
    tls, conn = connect(args)
    outcome = Outcome()
    if args.grant:  # windows wide open: the server's writes stop only at the socket, which is never read
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        conn.increment_flow_control_window(2**31 - 1 - 65535)
    ids = []
    for i in range(20):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers(args, "/bytes/%d" % args.size), end_stream=True)
        ids.append(sid)
    tls.sendall(conn.data_to_send())
    time.sleep(args.wait)  # the attack: the client does nothing at all
    pump(tls, conn, outcome, lambda o: all(finished(s)(o) for s in ids), seconds=5, ack=lambda sid: False)
    if args.grant:  # what was in flight when the server gave up is read; then the end of the connection
        pump(tls, conn, outcome, lambda o: False, seconds=5, ack=lambda sid: False)
    return {"done": sum(1 for s in ids if finished(s)(outcome)), "goaway": outcome.goaway, "closed": outcome.closed,
            "received": sum(len(outcome.stream(s)["body"]) for s in ids)}


MALFORMED = {
    "connection_header": lambda a: malformed(a, [("connection", "keep-alive")]),
    "transfer_encoding": lambda a: malformed(a, [("transfer-encoding", "chunked")]),
    "te_gzip": lambda a: malformed(a, [("te", "gzip")]),
    "upgrade": lambda a: malformed(a, [("upgrade", "websocket")]),
    "keep_alive": lambda a: malformed(a, [("keep-alive", "300")]),
    "uppercase": lambda a: malformed(a, [("X-Upper", "1")]),
    "missing_path": lambda a: malformed(a, [], pseudo=[(":method", "GET"), (":scheme", "https"),
                                                       (":authority", a.host)]),
    "pseudo_after_regular": lambda a: malformed(a, [("accept", "*/*"), (":path", "/x")],
                                                pseudo=[(":method", "GET"), (":scheme", "https"),
                                                        (":authority", a.host)]),
    "unknown_pseudo": lambda a: malformed(a, [], pseudo=request_headers(a) + [(":foo", "bar")]),
    "host_differs": lambda a: malformed(a, [("host", "elsewhere.test")]),
    "absolute_path": lambda a: malformed(a, [], pseudo=[(":method", "GET"), (":scheme", "https"),
                                                        (":authority", a.host), (":path", "https://elsewhere.test/")]),
    "asterisk_get": lambda a: malformed(a, [], pseudo=[(":method", "GET"), (":scheme", "https"),
                                                       (":authority", a.host), (":path", "*")]),
    "userinfo_authority": lambda a: malformed(a, [], pseudo=[(":method", "GET"), (":scheme", "https"),
                                                             (":authority", "admin@" + a.host), (":path", "/get")]),
    "control_character": lambda a: malformed(a, [("x-ctl", "a\x01b")]),
    "huge_header": lambda a: malformed(a, [("x-big-%d" % i, "b" * 4000) for i in range(20)]),
}

SCENARIOS = {
    "content_length_mismatch": scenario_content_length_mismatch,
    "streams_100": lambda a: concurrent_streams(a, 100),
    "streams_101": lambda a: concurrent_streams(a, 101),
    "rapid_reset": scenario_rapid_reset,
    "continuation_flood": scenario_continuation_flood,
    "slow_stream": scenario_slow_stream,
    "refused_streams": scenario_refused_streams,
    "never_read": scenario_never_read,
}
SCENARIOS.update(MALFORMED)

if __name__ == "__main__":
    run(SCENARIOS, ("--wait", dict(type=float, default=0)), ("--size", dict(type=int, default=1000000)),
        ("--grant", dict(action="store_true")))
