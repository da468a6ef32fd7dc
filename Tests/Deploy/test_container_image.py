"""The Containerfile (which cannot be built here: no container engine runs on this machine) checked by
construction: its stages and user agree with the manifests, its build is scripts/build-static, and the binary
that script makes needs no library the runtime stage lacks. The file capability it sets is checked against the
kernel's rules by starting the binary the way runc starts a Kubernetes container."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from support import (DEBUG_BINARY, ROOT, STATIC_BINARY, find, free_port, http_status, process, read_text,
                     require_binary, wait_until)

CONTAINERFILE = os.path.join(ROOT, "Containerfile")
CHECK = os.path.join(ROOT, "scripts", "check-runtime-deps")
CAP_NET_BIND_SERVICE = 10


def stages():
    """[(FROM line, [instructions])] with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", read_text(CONTAINERFILE))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            result.append((line, []))
        else:
            result[-1][1].append(line)
    return result


class ContainerfileTests(unittest.TestCase):
    def test_build_stage_is_the_static_swift_build_on_the_runtime_release(self):
        (build_from, build), (runtime_from, runtime) = stages()
        self.assertRegex(build_from, r"^FROM docker\.io/library/swift:6\.3-bookworm AS build$")
        self.assertIn("RUN scripts/build-static /out/tollgate", build)
        script = read_text(os.path.join(ROOT, "scripts", "build-static"))
        self.assertRegex(script, r"swift build -c release --static-swift-stdlib --product tollgate")
        self.assertEqual(runtime_from, "FROM docker.io/library/debian:12-slim")

    def test_runtime_stage_has_the_libraries_the_binary_needs_and_only_the_binary(self):
        runtime = stages()[1][1]
        installs = " ".join(i for i in runtime if "apt-get install" in i)
        for package in ("libssl3", "libnghttp2-14", "ca-certificates", "libstdc++6", "libgcc-s1"):
            self.assertIn(f" {package}", installs)
        copies = [i for i in runtime if i.startswith("COPY")]
        self.assertEqual(copies, ["COPY --from=build /out/tollgate /usr/local/bin/tollgate"])
        self.assertIn('ENTRYPOINT ["/usr/local/bin/tollgate"]', runtime)
        self.assertTrue(any("setcap cap_net_bind_service=+ep /usr/local/bin/tollgate" in i for i in runtime))

    def test_user_is_the_one_the_deployment_runs_as(self):
        user = [i for i in stages()[1][1] if i.startswith("USER ")]
        self.assertEqual(len(user), 1)
        uid, gid = user[0].split()[1].split(":")
        pod = find("Deployment", "tollgate")["spec"]["template"]["spec"]["securityContext"]
        self.assertNotEqual(uid, "0")
        self.assertEqual((int(uid), int(gid)), (pod["runAsUser"], pod["runAsGroup"]))


class RuntimeDependencyTests(unittest.TestCase):
    def test_static_binary_needs_only_what_the_runtime_stage_installs(self):
        binary = require_binary(STATIC_BINARY, "run scripts/build-static")
        result = subprocess.run([CHECK, binary], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("libssl.so.3", result.stdout)
        self.assertNotIn("libswift", result.stdout)
        self.assertNotIn("libFoundation", result.stdout)
        version = subprocess.run([binary, "--help"], capture_output=True, text=True)
        self.assertEqual(version.returncode, 0, version.stderr)

    def test_check_rejects_a_binary_that_needs_the_swift_runtime(self):
        binary = require_binary(DEBUG_BINARY, "run swift build")
        result = subprocess.run([CHECK, binary], capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("needs libswiftCore.so, which the runtime image does not have", result.stdout)


class FileCapabilityTests(unittest.TestCase):
    """Kubernetes gives a non-root container `capabilities.add` in its bounding and permitted sets only; the
    Containerfile's `setcap cap_net_bind_service=+ep` is what lets uid 10001 bind 443 under no_new_privs."""

    def setUp(self):
        if os.geteuid() != 0 or not shutil.which("setcap") or not shutil.which("gcc"):
            raise unittest.SkipTest("needs root, setcap and gcc")
        self.work = tempfile.mkdtemp(prefix="tollgate-caps-")
        os.chmod(self.work, 0o755)
        self.addCleanup(shutil.rmtree, self.work, True)
        self.launcher = os.path.join(self.work, "runc_like_exec")
        subprocess.run(["gcc", "-O", "-Wall", "-o", self.launcher, os.path.join(os.path.dirname(__file__), "runc_like_exec.c")],
                       check=True)
        binary = STATIC_BINARY if os.access(STATIC_BINARY, os.X_OK) else require_binary(DEBUG_BINARY, "run swift build")
        if binary == DEBUG_BINARY:
            raise unittest.SkipTest("the debug build loads the Swift runtime from the toolchain; needs scripts/build-static")
        self.with_cap = os.path.join(self.work, "tollgate-cap")
        self.without_cap = os.path.join(self.work, "tollgate")
        shutil.copy(binary, self.with_cap)
        shutil.copy(binary, self.without_cap)
        subprocess.run(["setcap", "cap_net_bind_service=+ep", self.with_cap], check=True)
        self.uid = str(find("Deployment", "tollgate")["spec"]["template"]["spec"]["securityContext"]["runAsUser"])

    def privileged_port(self):
        import socket
        for port in range(600, 1024):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        self.skipTest("no free port below 1024")

    def start(self, binary, caps):
        port = self.privileged_port()
        args = [self.launcher, self.uid, caps, binary, "demo-upstream", "--bind", "127.0.0.1", "--port", str(port)]
        return port, process(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def test_binds_443_range_as_non_root_with_the_file_capability(self):
        port, started = self.start(self.with_cap, str(CAP_NET_BIND_SERVICE))
        with started as proc:
            wait_until(lambda: proc.poll() is not None or http_status(f"http://127.0.0.1:{port}/uuid") == "200",
                       what="the non-root upstream on a privileged port")
            if proc.poll() is not None:
                self.fail(proc.stdout.read())

    def test_without_the_file_capability_the_added_capability_is_not_effective(self):
        port, started = self.start(self.without_cap, str(CAP_NET_BIND_SERVICE))
        with started as proc:
            proc.wait(timeout=20)
            self.assertIn("Permission denied", proc.stdout.read())

    def test_dropping_net_bind_service_too_makes_exec_fail(self):
        port, started = self.start(self.with_cap, "none")
        with started as proc:
            proc.wait(timeout=20)
            self.assertEqual(proc.returncode, 126)
            self.assertIn("Operation not permitted", proc.stdout.read())


if __name__ == "__main__":
    unittest.main()
