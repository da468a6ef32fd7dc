"""Shared helpers for the deployment tests: paths, YAML, free ports, bounded polling, processes."""
import contextlib
import os
import re
import socket
import subprocess
import time
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KUBERNETES = os.path.join(ROOT, "deploy", "kubernetes")
SYSTEMD_UNIT = os.path.join(ROOT, "deploy", "systemd", "tollgate.service")
DEBUG_BINARY = os.path.join(ROOT, ".build", "debug", "tollgate")
STATIC_BINARY = os.environ.get("TOLLGATE_STATIC_BINARY", os.path.join(ROOT, ".build", "static", "tollgate"))
CERTS_SAMPLE = os.path.join(ROOT, "certs-sample")


def kubernetes_documents():
    """(file name, document) for every document of deploy/kubernetes/*.yaml, in apply order."""
    docs = []
    for name in sorted(os.listdir(KUBERNETES)):
        if name.endswith(".yaml"):
            with open(os.path.join(KUBERNETES, name)) as f:
                docs += [(name, d) for d in yaml.safe_load_all(f) if d]
    return docs


def find(kind, name=None):
    found = [d for _, d in kubernetes_documents() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if not found:
        raise AssertionError(f"no {kind} {name or ''} in deploy/kubernetes")
    return found[0] if name else found


def require_binary(path, hint):
    """The binary, or a failure in CI / a skip elsewhere when it has not been built."""
    if os.access(path, os.X_OK):
        return path
    if os.environ.get("CI"):
        raise AssertionError(f"{path} is missing: {hint}")
    raise unittest.SkipTest(f"{path} is missing: {hint}")


def serve_flags():
    """Every --option `tollgate serve` accepts, read from its own --help."""
    binary = require_binary(DEBUG_BINARY, "run swift build")
    text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", text))


def read_text(path):
    with open(path) as f:
        return f.read()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def http_status(url):
    result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2", url],
                            capture_output=True, text=True)
    return result.stdout.strip()


@contextlib.contextmanager
def process(args, **kwargs):
    """A started process, always stopped (SIGTERM, then SIGKILL after 10 s) and reaped."""
    proc = subprocess.Popen(args, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
