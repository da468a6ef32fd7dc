#!/usr/bin/env python3
"""A bounded mTLS load client, for rolling restarts behind a balancer: sends GET PATH until STOP_FILE exists
or MAX requests were sent, and prints one JSON summary: requests answered, failures (with the first few
errors), which upstream answered how often, how many responses did not carry SOURCE as x-forwarded-for,
and handshakes resumed.
MODE keepalive: one connection at a time for as many requests as the server allows; a request on a reused
connection that got no byte back before it closed is retried once on a new connection, as curl and browsers do
(RFC 9112 §9.3.1) — the only retry. MODE new: a new connection for every request (Connection: close),
offering the previous connection's TLS session.
Prints "first response" on stderr once one request succeeded.
usage: load_client.py PORT SERVER_NAME CA CERT KEY SOURCE MODE PATH MAX STOP_FILE"""
import json
import os
import socket
import ssl
import sys
import time

port, name, ca, cert, key, source, mode, path, limit, stop = sys.argv[1:11]
port, limit = int(port), int(limit)
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)
summary = {"requests": 0, "ok": 0, "failed": 0, "errors": [], "upstreams": {}, "wrongClientAddress": 0,
           "retried": 0, "handshakes": 0, "resumed": 0}


class NoResponse(Exception):
    """The connection ended before a single byte of the response."""


def connect(session):
    raw = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
    tls = context.wrap_socket(raw, server_hostname=name, session=session)
    summary["handshakes"] += 1
    summary["resumed"] += 1 if tls.session_reused else 0
    return tls


def exchange(tls, close):
    """Sends one request and reads its response: (status, headers, body)."""
    extra = "Connection: close\r\n" if close else ""
    try:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\n{extra}\r\n".encode())
    except (OSError, ssl.SSLError) as error:
        raise NoResponse(repr(error))
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = tls.recv(65536)
        except (OSError, ssl.SSLError) as error:
            if data:
                raise
            raise NoResponse(repr(error))
        if not chunk:
            if data:
                raise EOFError("closed inside the response head")
            raise NoResponse("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            raise EOFError("closed inside the body")
        body += chunk
    return int(lines[0].split(" ")[1]), headers, body[:length]


def record(status, body):
    if status != 200:
        raise ValueError(f"status {status}")
    answer = json.loads(body)
    upstream = answer.get("upstream", "-")
    summary["upstreams"][upstream] = summary["upstreams"].get(upstream, 0) + 1
    forwarded = {k.lower(): v for k, v in answer.get("headers", {}).items()}.get("x-forwarded-for")
    if "headers" in answer and forwarded != source:
        summary["wrongClientAddress"] += 1
    summary["ok"] += 1
    if summary["ok"] == 1:
        print("first response", file=sys.stderr, flush=True)


tls, reused, session = None, False, None
while summary["requests"] < limit and not os.path.exists(stop):
    summary["requests"] += 1
    try:
        if mode == "new":
            tls = connect(session)
            status, headers, body = exchange(tls, close=True)
            session = tls.session
            tls.close()
            tls = None
        else:
            if tls is None:
                tls, reused = connect(None), False
            try:
                status, headers, body = exchange(tls, close=False)
            except NoResponse:
                if not reused:
                    raise
                summary["retried"] += 1
                tls.close()
                tls, reused = connect(None), False
                status, headers, body = exchange(tls, close=False)
            reused = True
            if headers.get("connection", "").lower() == "close":
                tls.close()
                tls = None
        record(status, body)
    except Exception as error:  # every other outcome is a failed request
        summary["failed"] += 1
        if len(summary["errors"]) < 5:
            summary["errors"].append(f"request {summary['requests']}: {error!r}")
        if tls is not None:
            tls.close()
        tls = None
    time.sleep(0.005)  # pacing, to keep the load light on a 2-core machine
print(json.dumps(summary))
