"""deploy/systemd/tollgate.service: `systemd-analyze verify` (the unit is copied with ExecStart pointing at the
built binary, since verify insists the executable exists), its settings against the drain and the flags, and
the sandbox against what the binary really does: every system call it makes while serving mTLS, reloading and
draining, traced with strace, must be in @system-service, and no memory may be writable and executable."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from support import (CERTS_SAMPLE, DEBUG_BINARY, ROOT, STATIC_BINARY, SYSTEMD_UNIT, free_port, http_status, process,
                     read_text, require_binary, serve_flags, wait_until)


def unit_settings():
    """{key: [values]} of the [Service] section, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", read_text(SYSTEMD_UNIT))
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif line and not line.startswith("#") and section == "[Service]":
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def exec_start_args():
    return unit_settings()["ExecStart"][0].split()


def flag(name):
    args = exec_start_args()
    return args[args.index(name) + 1]


def expand_filter(group, seen=None):
    """The system calls a systemd filter group allows, nested groups included."""
    seen = seen if seen is not None else set()
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if item.startswith("@"):
            if item not in seen:
                seen.add(item)
                calls |= expand_filter(item, seen)
        else:
            calls.add(item)
    return calls


def needs(tool):
    if not shutil.which(tool):
        if os.environ.get("CI"):
            raise AssertionError(f"{tool} is missing (scripts/install-deps.sh installs it)")
        raise unittest.SkipTest(f"{tool} is missing")


class UnitFileTests(unittest.TestCase):
    def verify(self, text):
        directory = tempfile.mkdtemp(prefix="tollgate-unit-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "tollgate.service")
        binary = STATIC_BINARY if os.access(STATIC_BINARY, os.X_OK) else require_binary(DEBUG_BINARY, "run swift build")
        with open(path, "w") as f:
            f.write(text.replace("/usr/local/bin/tollgate", binary))
        return subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)

    def test_systemd_analyze_verify_is_silent(self):
        needs("systemd-analyze")
        result = self.verify(read_text(SYSTEMD_UNIT))
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))

    def test_verify_reports_a_misspelt_setting(self):
        needs("systemd-analyze")
        result = self.verify(read_text(SYSTEMD_UNIT).replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomes=yes"))
        self.assertIn("Unknown key", result.stderr)

    def test_sandbox_exposure_stays_low(self):
        needs("systemd-analyze")
        result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", SYSTEMD_UNIT],
                                capture_output=True, text=True)
        score = re.search(r"Overall exposure level for tollgate\.service: ([0-9.]+)", result.stdout + result.stderr)
        self.assertIsNotNone(score, result.stdout + result.stderr)
        self.assertLessEqual(float(score.group(1)), 2.0)

    def test_settings(self):
        s = unit_settings()
        self.assertEqual(s["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertGreater(int(s["TimeoutStopSec"][0]), int(flag("--drain-seconds")))
        self.assertEqual(s["AmbientCapabilities"], ["CAP_NET_BIND_SERVICE"])
        self.assertEqual(s["CapabilityBoundingSet"], ["CAP_NET_BIND_SERVICE"])
        self.assertTrue(s.get("DynamicUser") == ["yes"] or s["User"] not in (["root"], ["0"]))
        for key, value in {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes",
                           "SystemCallFilter": "@system-service", "MemoryDenyWriteExecute": "yes"}.items():
            self.assertEqual(s[key], [value], key)
        self.assertNotIn("ReadWritePaths", s)  # serve writes no file

    def test_exec_start_uses_real_flags_and_the_config_is_read_only_path(self):
        args = exec_start_args()
        self.assertEqual(args[:2], ["/usr/local/bin/tollgate", "serve"])
        flags = serve_flags()
        for name in [a for a in args if a.startswith("--")]:
            self.assertIn(name, flags)
        for name in ("--config", "--credentials", "--session-ticket-keys"):
            self.assertTrue(flag(name).startswith(unit_settings()["ReadOnlyPaths"][0] + "/"), name)
        self.assertTrue(flag("--admin").startswith("127.0.0.1:"))


class SandboxAgainstTheBinaryTests(unittest.TestCase):
    def test_system_calls_and_memory_fit_the_filters(self):
        needs("strace")
        needs("systemd-analyze")
        binary = require_binary(STATIC_BINARY, "run scripts/build-static")
        work = tempfile.mkdtemp(prefix="tollgate-strace-")
        self.addCleanup(shutil.rmtree, work, True)
        https, admin, upstream = free_port(), free_port(), free_port()
        config = os.path.join(work, "config")
        os.makedirs(config)
        for name in ("gateway.yaml", "virtualservice.yaml", "serviceentry.yaml"):
            text = read_text(os.path.join(ROOT, "config", name))
            # The upstream by name, so the trace includes a real getaddrinfo.
            text = text.replace("address: 127.0.0.1", "address: localhost").replace("resolution: STATIC", "resolution: DNS")
            with open(os.path.join(config, name), "w") as f:
                f.write(text.replace("http: 8080", f"http: {upstream}"))
        keys = os.path.join(work, "ticket.keys")
        subprocess.run([binary, "certs", "ticket-keys", "--out", keys], check=True, capture_output=True)
        trace = os.path.join(work, "trace")
        device = os.path.join(CERTS_SAMPLE, "jinsu-macbook-tls")
        curl = ["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", f"localhost:{https}:127.0.0.1",
                "--cacert", os.path.join(CERTS_SAMPLE, "server-tls", "ca.crt"), "--cert", os.path.join(device, "tls.crt"),
                "--key", os.path.join(device, "tls.key"), f"https://localhost:{https}/uuid"]
        serve = ["strace", "-f", "-qq", "-o", trace, binary, "serve", "--config", config, "--credentials", CERTS_SAMPLE,
                 "--port-map", f"8443={https}", "--admin", f"127.0.0.1:{admin}", "--session-ticket-keys", keys,
                 "--drain-seconds", "5", "--loops", "2"]
        # strace detaches when stopped; the gateway it traced must not outlive a failed test.
        self.addCleanup(stop_traced_gateway, trace, binary)
        log_path = os.path.join(work, "serve.log")
        log = open(log_path, "w")
        self.addCleanup(log.close)
        with process([binary, "demo-upstream", "--port", str(upstream)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), \
             process(serve, stdout=subprocess.DEVNULL, stderr=log) as traced:
            wait_until(lambda: traced.poll() is not None or http_status(f"http://127.0.0.1:{admin}/healthz/ready") == "200",
                       what="the traced gateway")
            self.assertEqual([subprocess.run(curl, capture_output=True, text=True).stdout for _ in range(3)], ["200"] * 3)
            self.assertEqual(http_status(f"http://127.0.0.1:{admin}/stats/prometheus"), "200")
            gateway = wait_until(lambda: gateway_pid(trace), what="the traced gateway's pid")
            os.kill(gateway, signal.SIGHUP)
            wait_until(lambda: "configuration reloaded" in read_text(log_path), what="the reload")
            self.assertEqual(subprocess.run(curl, capture_output=True, text=True).stdout, "200")
            os.kill(gateway, signal.SIGTERM)
            self.assertEqual(traced.wait(timeout=30), 0)
        text = read_text(trace)
        used = set(re.findall(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)\(", text, re.M)) - {"exit", "exit_group"} | {"exit_group"}
        allowed = expand_filter("@system-service")
        self.assertGreater(len(used), 20)
        self.assertEqual(sorted(used - allowed), [], "system calls outside SystemCallFilter=@system-service")
        # MemoryDenyWriteExecute=yes refuses these (systemd's seccomp rules).
        self.assertEqual(re.findall(r"mmap\([^)]*PROT_WRITE\|PROT_EXEC[^)]*\)", text), [])
        self.assertEqual(re.findall(r"mprotect\([^)]*PROT_EXEC[^)]*\)", text), [])
        families = set(re.findall(r"socket\((AF_[A-Z0-9]+)", text))
        allowed_families = set(unit_settings()["RestrictAddressFamilies"][0].split())
        self.assertTrue(families <= allowed_families, families)


def stop_traced_gateway(trace, binary):
    pid = gateway_pid(trace) if os.path.exists(trace) else None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if pid and f.read().split(b"\0")[0] == binary.encode():
                os.kill(pid, signal.SIGKILL)
    except (OSError, TypeError):
        pass


def gateway_pid(trace):
    """The traced tollgate's pid: the first process in the trace (strace -f writes the tracee's pid first)."""
    text = read_text(trace)
    match = re.match(r"^(\d+) ", text)
    return int(match.group(1)) if match else None


if __name__ == "__main__":
    unittest.main()
