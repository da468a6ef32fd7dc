"""deploy/kubernetes: schema validation of the core kinds (kubernetes-validate, offline: its schemas ship in
the package), cert-manager kinds against cert-manager's documented v1 fields, the invariants a rollout relies
on, and one replica run from the Deployment's own arguments over a kubelet-like volume layout."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import kubernetes_validate.utils as kv

from support import (CERTS_SAMPLE, DEBUG_BINARY, KUBERNETES, ROOT, find, free_port, http_status, kubernetes_documents,
                     process, read_bytes, read_text, require_binary, serve_flags, wait_until)

# The oldest Kubernetes the manifests are written for (preStop `sleep` is on by default from 1.30) and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", kv.latest_version()]

# cert-manager v1 API reference: fields of Certificate.spec, CertificatePrivateKey, ObjectReference (issuerRef),
# IssuerSpec / CAIssuer / SelfSignedIssuer, and the KeyUsage enumeration.
CERTIFICATE_SPEC = {"additionalOutputFormats", "commonName", "dnsNames", "duration", "emailAddresses",
                    "encodeUsagesInRequest", "ipAddresses", "isCA", "issuerRef", "keystores", "literalSubject",
                    "nameConstraints", "otherNames", "privateKey", "renewBefore", "renewBeforePercentage",
                    "revisionHistoryLimit", "secretName", "secretTemplate", "subject", "uris", "usages"}
PRIVATE_KEY = {"algorithm": {"RSA", "ECDSA", "Ed25519"}, "encoding": {"PKCS1", "PKCS8"},
               "rotationPolicy": {"Never", "Always"}, "size": None}
ISSUER_REF = {"name", "kind", "group"}
ISSUER_TYPES = {"acme", "ca", "selfSigned", "vault", "venafi"}
CA_ISSUER = {"secretName", "crlDistributionPoints", "ocspServers", "issuingCertificateURLs"}
SELF_SIGNED_ISSUER = {"crlDistributionPoints"}
KEY_USAGES = {"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
              "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
              "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
              "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"}
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$")


def check_certificate(doc):
    """Problems with a cert-manager Certificate, as messages (empty: none)."""
    problems = []
    name, spec = doc["metadata"]["name"], doc.get("spec") or {}
    problems += [f"Certificate {name}: unknown field spec.{k}" for k in sorted(set(spec) - CERTIFICATE_SPEC)]
    if not spec.get("secretName"):
        problems.append(f"Certificate {name}: spec.secretName is required")
    ref = spec.get("issuerRef") or {}
    if not ref.get("name"):
        problems.append(f"Certificate {name}: spec.issuerRef.name is required")
    problems += [f"Certificate {name}: unknown field spec.issuerRef.{k}" for k in sorted(set(ref) - ISSUER_REF)]
    if ref.get("kind", "Issuer") not in {"Issuer", "ClusterIssuer"} and ref.get("group", "cert-manager.io") == "cert-manager.io":
        problems.append(f"Certificate {name}: issuerRef.kind must be Issuer or ClusterIssuer")
    if not any(spec.get(k) for k in ("commonName", "dnsNames", "uris", "ipAddresses", "emailAddresses", "literalSubject")):
        problems.append(f"Certificate {name}: needs commonName, dnsNames, uris, ipAddresses or emailAddresses")
    if "isCA" not in spec or not isinstance(spec["isCA"], bool):
        problems.append(f"Certificate {name}: spec.isCA must be stated (true for the CA, false for leaves)")
    usages = spec.get("usages")
    if not usages:
        problems.append(f"Certificate {name}: spec.usages must be stated")
    else:
        problems += [f"Certificate {name}: unknown usage '{u}'" for u in usages if u not in KEY_USAGES]
        if spec.get("isCA") and "cert sign" not in usages:
            problems.append(f"Certificate {name}: a CA needs usage 'cert sign'")
        if not spec.get("isCA") and not ({"server auth", "client auth"} & set(usages)):
            problems.append(f"Certificate {name}: a leaf for Tollgate needs 'server auth' or 'client auth'")
    for key, allowed in PRIVATE_KEY.items():
        value = (spec.get("privateKey") or {}).get(key)
        if value is not None and allowed is not None and value not in allowed:
            problems.append(f"Certificate {name}: privateKey.{key} '{value}' is not one of {sorted(allowed)}")
    problems += [f"Certificate {name}: unknown field spec.privateKey.{k}"
                 for k in sorted(set(spec.get("privateKey") or {}) - set(PRIVATE_KEY))]
    if spec.get("isCA") and (spec.get("privateKey") or {}).get("rotationPolicy") != "Never":
        problems.append(f"Certificate {name}: a CA must keep its key on renewal (rotationPolicy: Never), "
                        "or every device certificate stops verifying")
    for field in ("duration", "renewBefore"):
        if field in spec and not DURATION.match(str(spec[field])):
            problems.append(f"Certificate {name}: spec.{field} '{spec[field]}' is not a Go duration")
    return problems


def check_issuer(doc):
    name, spec = doc["metadata"]["name"], doc.get("spec") or {}
    types = set(spec) & ISSUER_TYPES
    problems = [f"{doc['kind']} {name}: unknown field spec.{k}" for k in sorted(set(spec) - ISSUER_TYPES)]
    if len(types) != 1:
        problems.append(f"{doc['kind']} {name}: exactly one of {sorted(ISSUER_TYPES)} is required")
    if "ca" in spec:
        ca = spec["ca"] or {}
        if not ca.get("secretName"):
            problems.append(f"{doc['kind']} {name}: spec.ca.secretName is required")
        problems += [f"{doc['kind']} {name}: unknown field spec.ca.{k}" for k in sorted(set(ca) - CA_ISSUER)]
    if "selfSigned" in spec:
        problems += [f"{doc['kind']} {name}: unknown field spec.selfSigned.{k}"
                     for k in sorted(set(spec["selfSigned"] or {}) - SELF_SIGNED_ISSUER)]
    return problems


def deployment():
    return find("Deployment", "tollgate")


def container():
    return deployment()["spec"]["template"]["spec"]["containers"][0]


def arg(flag):
    args = container()["args"]
    assert flag in args, f"{flag} not in the Deployment's args"
    return args[args.index(flag) + 1]


class CoreKindsTests(unittest.TestCase):
    def test_core_kinds_validate_strictly_against_kubernetes_schemas(self):
        validated = 0
        for name, doc in kubernetes_documents():
            if doc["apiVersion"].startswith("cert-manager.io/"):
                continue
            for version in KUBERNETES_VERSIONS:
                try:
                    kv.validate(doc, version, strict=True)
                except kv.ValidationError as error:
                    self.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} against {version}: "
                              f"{'.'.join(map(str, error.path))}: {error.message}")
                validated += 1
        kinds = {d["kind"] for _, d in kubernetes_documents()}
        self.assertTrue({"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} <= kinds, kinds)
        self.assertGreaterEqual(validated, 2 * 7)

    def test_validation_catches_a_misspelt_field(self):
        doc = deployment()
        doc["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
        with self.assertRaises(kv.ValidationError):
            kv.validate(doc, KUBERNETES_VERSIONS[0], strict=True)

    def test_pre_stop_sleep_is_unknown_to_older_schemas(self):
        # Alpha (off by default) in 1.29, absent from 1.28: the reason the floor is 1.30.
        with self.assertRaises(kv.ValidationError):
            kv.validate(deployment(), "1.28.0", strict=True)


class CertManagerKindsTests(unittest.TestCase):
    def test_certificates_and_issuers_use_documented_fields(self):
        certificates = find("Certificate")
        issuers = find("Issuer")
        for doc in certificates + issuers:
            self.assertEqual(doc["apiVersion"], "cert-manager.io/v1")
            self.assertEqual(doc["metadata"].get("namespace"), "tollgate", doc["metadata"]["name"])
        self.assertEqual([p for d in certificates for p in check_certificate(d)], [])
        self.assertEqual([p for d in issuers for p in check_issuer(d)], [])
        issuer_names = {d["metadata"]["name"] for d in issuers}
        for doc in certificates:
            self.assertIn(doc["spec"]["issuerRef"]["name"], issuer_names)
        ca_secrets = {d["spec"]["secretName"] for d in certificates if d["spec"]["isCA"]}
        for doc in issuers:
            if "ca" in doc["spec"]:
                self.assertIn(doc["spec"]["ca"]["secretName"], ca_secrets)

    def test_the_checks_find_broken_certificates(self):
        server = find("Certificate", "server")
        broken = {**server, "spec": {k: v for k, v in server["spec"].items() if k not in ("issuerRef", "secretName")}}
        broken["spec"]["usages"] = ["server auth", "serverAuth"]
        broken["spec"]["dnsName"] = ["x"]
        problems = "\n".join(check_certificate(broken))
        for expected in ("secretName is required", "issuerRef.name is required", "unknown usage 'serverAuth'",
                         "unknown field spec.dnsName"):
            self.assertIn(expected, problems)
        ca = find("Certificate", "self-signed-ca")
        rotating = {**ca, "spec": {**ca["spec"], "privateKey": {"algorithm": "ECDSA", "rotationPolicy": "Always"},
                                   "usages": ["digital signature"]}}
        problems = "\n".join(check_certificate(rotating))
        self.assertIn("needs usage 'cert sign'", problems)
        self.assertIn("rotationPolicy: Never", problems)
        self.assertIn("exactly one of", "\n".join(check_issuer({"kind": "Issuer", "metadata": {"name": "x"}, "spec": {}})))


class DeploymentTests(unittest.TestCase):
    def test_replicas_probe_drain_and_grace_period(self):
        spec = deployment()["spec"]
        pod = spec["template"]["spec"]
        self.assertGreaterEqual(spec["replicas"], 2)
        probe = container()["readinessProbe"]["httpGet"]
        self.assertEqual(probe["path"], "/healthz/ready")
        ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
        admin_port = int(arg("--admin").rsplit(":", 1)[1])
        self.assertEqual(ports[probe["port"]] if isinstance(probe["port"], str) else probe["port"], admin_port)
        self.assertEqual(ports["https"], 443)
        drain = int(arg("--drain-seconds"))
        pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
        # The kubelet's grace period covers the preStop hook and then the drain, with room for the exit.
        self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], pre_stop + drain + 5)

    def test_runs_unprivileged_on_a_read_only_root(self):
        pod = deployment()["spec"]["template"]["spec"]
        security = container()["securityContext"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
        self.assertTrue(security["readOnlyRootFilesystem"])
        self.assertFalse(security["allowPrivilegeEscalation"])
        self.assertEqual(security["capabilities"], {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")

    def test_every_flag_is_one_serve_accepts(self):
        args = container()["args"]
        self.assertEqual(args[0], "serve")
        flags = serve_flags()
        for flag in [a for a in args if a.startswith("--")]:
            self.assertIn(flag, flags)

    def test_mounts_match_the_flags_and_the_secrets_exist(self):
        pod = deployment()["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container()["volumeMounts"]}
        self.assertTrue(all(m.get("readOnly") for m in container()["volumeMounts"]))
        self.assertEqual(volumes[mounts[arg("--config")]]["configMap"]["name"], find("ConfigMap", "tollgate-config")["metadata"]["name"])
        issued = {d["spec"]["secretName"] for d in find("Certificate")}
        credentials = arg("--credentials")
        gateway_credentials = set(re.findall(r"credentialName:\s*(\S+)", "\n".join(find("ConfigMap", "tollgate-config")["data"].values())))
        self.assertEqual(gateway_credentials, {"server-tls"})
        for credential in gateway_credentials:
            self.assertIn(volumes[mounts[f"{credentials}/{credential}"]]["secret"]["secretName"], issued)
            client_ca = volumes[mounts[f"{credentials}/{credential}-cacert"]]["secret"]
            self.assertIn(client_ca["secretName"], issued)
            # Only the CA's certificate reaches the gateway, never the key that issues device certificates.
            self.assertEqual(client_ca["items"], [{"key": "ca.crt", "path": "ca.crt"}])
        ticket_dir, ticket_file = os.path.split(arg("--session-ticket-keys"))
        ticket_secret = volumes[mounts[ticket_dir]]["secret"]["secretName"]
        command = f"kubectl -n tollgate create secret generic {ticket_secret} --from-file={ticket_file}"
        self.assertTrue(command in read_text(os.path.join(ROOT, "README.md")), f"README does not show `{command}`")

    def test_service_and_budget_select_the_pods(self):
        labels = deployment()["spec"]["template"]["metadata"]["labels"]
        service = find("Service", "tollgate")["spec"]
        self.assertEqual(service["type"], "LoadBalancer")
        self.assertEqual(service["externalTrafficPolicy"], "Local")
        self.assertTrue(service["selector"].items() <= labels.items())
        self.assertEqual([(p["port"], p["targetPort"]) for p in service["ports"]], [(443, "https")])
        budget = find("PodDisruptionBudget", "tollgate")["spec"]
        self.assertTrue(budget["selector"]["matchLabels"].items() <= labels.items())
        self.assertLess(budget["maxUnavailable"], deployment()["spec"]["replicas"])


def mount(path, files, generation):
    """Writes `files` the way the kubelet fills a ConfigMap/Secret volume: a timestamped folder, `..data`
    pointing at it (swapped atomically on update) and one symlink per key through `..data`."""
    os.makedirs(path, exist_ok=True)
    stamp = f"..2026_01_01_00_00_0{generation}.000000001"
    os.makedirs(os.path.join(path, stamp))
    for name, data in files.items():
        with open(os.path.join(path, stamp, name), "wb") as f:
            f.write(data)
    os.symlink(stamp, os.path.join(path, "..data_tmp"))
    os.rename(os.path.join(path, "..data_tmp"), os.path.join(path, "..data"))
    for name in files:
        if not os.path.lexists(os.path.join(path, name)):
            os.symlink(os.path.join("..data", name), os.path.join(path, name))


def read_folder(path):
    return {n: read_bytes(os.path.join(path, n)) for n in os.listdir(path) if not n.startswith(".")}


class ReplicaFromManifestTests(unittest.TestCase):
    """One replica started from the Deployment's args, its volumes laid out as the kubelet does from the
    manifests' ConfigMap and the secrets their Certificates produce (`tollgate certs apply` on the same file)."""

    def test_replica_serves_from_the_manifests(self):
        binary = require_binary(DEBUG_BINARY, "run swift build")
        work = tempfile.mkdtemp(prefix="tollgate-k8s-")
        self.addCleanup(shutil.rmtree, work, True)
        subprocess.run([binary, "certs", "apply", "-f", os.path.join(KUBERNETES, "10-certificates.yaml"),
                        "--out", os.path.join(work, "issued")], check=True, capture_output=True)
        ticket_keys = os.path.join(work, "ticket.keys")
        subprocess.run([binary, "certs", "ticket-keys", "--out", ticket_keys], check=True, capture_output=True)
        secrets = {name: read_folder(os.path.join(work, "issued", name)) for name in os.listdir(os.path.join(work, "issued"))}
        secrets["tollgate-session-ticket-keys"] = {"ticket.keys": read_bytes(ticket_keys)}
        config_map = find("ConfigMap", "tollgate-config")

        pod_root = os.path.join(work, "pod")
        volumes = {v["name"]: v for v in deployment()["spec"]["template"]["spec"]["volumes"]}
        for m in container()["volumeMounts"]:
            volume = volumes[m["name"]]
            if "configMap" in volume:
                files = {k: v.encode() for k, v in config_map["data"].items()}
            else:
                data = secrets[volume["secret"]["secretName"]]
                items = volume["secret"].get("items")
                files = {i["path"]: data[i["key"]] for i in items} if items else data
            mount(pod_root + m["mountPath"], files, 1)

        https, admin, upstream = free_port(), free_port(), free_port()
        args = [pod_root + a if a.startswith("/") else a for a in container()["args"]]
        args[args.index("--admin") + 1] = f"127.0.0.1:{admin}"
        # Only what a cluster provides differently here: port 443 (root) and the upstream's DNS name.
        args += ["--port-map", f"443={https}", "--service", f"server.istio-server-mtls.svc.cluster.local=127.0.0.1:{upstream}"]
        log = open(os.path.join(work, "serve.log"), "w")
        self.addCleanup(log.close)
        with process([binary, "demo-upstream", "--port", str(upstream)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), \
             process([binary] + args, stdout=subprocess.DEVNULL, stderr=log) as replica:
            probe = container()["readinessProbe"]["httpGet"]["path"]
            wait_until(lambda: replica.poll() is not None or http_status(f"http://127.0.0.1:{admin}{probe}") == "200",
                       what="the readiness probe")
            self.assertIsNone(replica.poll(), read_text(log.name))
            host = "istio-server-mtls.dev.lab.jinsu.me"
            device = os.path.join(work, "issued", "jinsu-macbook-tls")
            curl = ["curl", "-s", "-m", "5", "--resolve", f"{host}:{https}:127.0.0.1",
                    "--cacert", os.path.join(pod_root, "etc/tollgate/credentials/server-tls/ca.crt")]
            url = f"https://{host}:{https}/uuid"
            ok = subprocess.run(curl + ["--cert", os.path.join(device, "tls.crt"), "--key", os.path.join(device, "tls.key"),
                                        "-w", "\n%{http_code}", url], capture_output=True, text=True)
            self.assertTrue(ok.stdout.endswith("\n200") and '"uuid"' in ok.stdout, ok.stdout + ok.stderr)
            # MUTUAL against the mounted client CA: no certificate, or one from another CA, gets no response.
            self.assertNotEqual(subprocess.run(curl + [url], capture_output=True).returncode, 0)
            stranger = os.path.join(CERTS_SAMPLE, "jinsu-macbook-tls")
            self.assertNotEqual(subprocess.run(curl + ["--cert", os.path.join(stranger, "tls.crt"), "--key",
                                                       os.path.join(stranger, "tls.key"), url], capture_output=True).returncode, 0)
            # A rotated ticket-key Secret arrives as a ..data swap; the replica picks it up without a restart.
            subprocess.run([binary, "certs", "ticket-keys", "--out", ticket_keys, "--rotate"], check=True, capture_output=True)
            ticket_dir = os.path.dirname(pod_root + arg("--session-ticket-keys"))
            mount(ticket_dir, {"ticket.keys": read_bytes(ticket_keys)}, 2)
            wait_until(lambda: "session ticket keys reloaded" in read_text(log.name) and "keys=2" in read_text(log.name),
                       what="the ticket keys reload")
            self.assertIsNone(replica.poll())


if __name__ == "__main__":
    unittest.main()
