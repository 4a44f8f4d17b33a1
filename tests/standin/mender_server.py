#!/usr/bin/env python3
"""A stand-in for the device-facing half of a Mender server, for tests.

Written from Mender's published API documents (mender-server, backend/docs/api/*/devices_v1.yaml
for deviceauth, deployments and inventory) and the server's documented behaviour: it answers what
a device may ask, and refuses what the real server refuses:

- auth requests: a body that is not JSON, lacks `id_data` or `pubkey`, or whose `id_data` is not a
  JSON object is a 400; a missing `X-MEN-Signature` is a 400; a signature that does not verify with
  the key in the body, or a wrong tenant token, is a 401; a device seen for the first time is
  recorded as pending and refused with a 401 until it is accepted (or `--auto-accept`);
- every other call needs `Authorization: Bearer <token>` with a token it issued (401 otherwise);
- deployments: `POST /api/devices/v1/.../next` (body with `artifact_name` and `device_type`) and
  `GET` with the same two query parameters; `POST /api/devices/v2/.../next` (body
  `{"device_provides": {...}}`) only with `--v2`, as on Mender Enterprise, else 404; a deployment
  whose artifact the device already runs is marked `already-installed` and answered 204, as the
  real server does; status reports take the documented enum (400 otherwise), are 404 for an
  unknown deployment and 409 once it is aborted; logs need `messages` with `timestamp`, `level`
  and `message`;
- inventory: `PUT`/`PATCH` with a list of `{name, value}`.

Signatures are checked with the `openssl` command, independent of the client under test.

Tests drive it through `/_control/*` on its own port (nginx in front proxies only `/api/`):
`GET /_control/state`, `POST /_control/accept`, `/_control/deploy` (with `abort_on`: the
deployment is aborted when the device reports that status), `/_control/abort`,
`/_control/expire-tokens`, `/_control/fail` (the next N calls under a path prefix get a status).
"""

import argparse
import base64
import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUSES = {
    "installing", "pause_before_installing", "downloading", "pause_before_rebooting",
    "rebooting", "pause_before_committing", "success", "failure", "already-installed",
}
FINISHED = {"success", "failure", "already-installed", "aborted"}
DEPLOYMENTS = "/api/devices/v1/deployments/device/deployments/"


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.auto_accept = args.auto_accept
        self.tenant_token = args.tenant_token
        self.v2 = args.v2
        self.devices = {}      # pubkey (normalised) -> {id, id_data, status}
        self.tokens = {}       # token -> device id
        self.deployments = []  # {id, artifact_name, uri, device_types, aborted, force}
        self.device_deployments = {}  # (device id, deployment id) -> status
        self.statuses = []     # {device, deployment, status, substate}
        self.logs = []         # {device, deployment, messages}
        self.inventory = {}    # device id -> [attributes]
        self.requests = []     # "METHOD path status"
        self.auth_requests = 0
        self.faults = []       # {prefix, count, status}

    def snapshot(self):
        return {
            "devices": list(self.devices.values()),
            "deployments": self.deployments,
            "statuses": self.statuses,
            "logs": self.logs,
            "inventory": self.inventory,
            "requests": self.requests,
            "auth_requests": self.auth_requests,
        }


def normalise_pem(text):
    return "".join(text.split())


def verify_signature(pubkey_pem, body, signature):
    """Whether `signature` (raw bytes) signs `body` with `pubkey_pem`, as deviceauth checks it:
    RSA PKCS#1 v1.5 and ECDSA over SHA-256, Ed25519 over the body itself."""
    with tempfile.TemporaryDirectory() as d:
        key, data, sig = (os.path.join(d, n) for n in ("key.pem", "body", "sig"))
        with open(key, "w") as f:
            f.write(pubkey_pem)
        with open(data, "wb") as f:
            f.write(body)
        with open(sig, "wb") as f:
            f.write(signature)
        kind = subprocess.run(["openssl", "pkey", "-pubin", "-in", key, "-noout", "-text"],
                              capture_output=True, text=True)
        if kind.returncode != 0:
            return None
        if kind.stdout.startswith("ED25519"):
            cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin",
                   "-in", data, "-sigfile", sig]
        else:
            cmd = ["openssl", "dgst", "-sha256", "-verify", key, "-signature", sig, data]
        return subprocess.run(cmd, capture_output=True).returncode == 0


def jwt_for(device_id):
    """A token shaped like deviceauth's JWT (its signature is random: only this server reads
    it)."""
    def b64(obj):
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    claims = {"sub": device_id, "iss": "Mender", "mender.device": True,
              "jti": secrets.token_hex(8),
              "exp": int(datetime.datetime.now().timestamp()) + 7 * 86400}
    return "%s.%s.%s" % (b64({"alg": "RS256", "typ": "JWT"}), b64(claims),
                         secrets.token_urlsafe(32))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        sys.stderr.write("standin: " + (fmt % args) + "\n")

    # -- plumbing ---------------------------------------------------------------------------
    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, payload=None, content_type="application/json"):
        data = b""
        if payload is not None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.state.lock:
            self.state.requests.append("%s %s %d" % (self.command, self.path, status))

    def error(self, status, message):
        self.answer(status, {"error": message, "request_id": secrets.token_hex(4)})

    def json_body(self, raw):
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def device(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        with self.state.lock:
            return self.state.tokens.get(auth[len("Bearer "):])

    def fault(self):
        with self.state.lock:
            for f in self.state.faults:
                if self.path.startswith(f["prefix"]) and f["count"] > 0:
                    f["count"] -= 1
                    return f["status"]
        return None

    # -- routing ----------------------------------------------------------------------------
    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def route(self):
        raw = self.body()
        path = self.path.split("?", 1)[0]
        if path.startswith("/_control/"):
            return self.control(path, raw)
        status = self.fault()
        if status is not None:
            return self.error(status, "injected failure")
        if path == "/api/devices/v1/authentication/auth_requests" and self.command == "POST":
            return self.auth(raw)
        device = self.device()
        if device is None:
            return self.error(401, "Unauthorized")
        if path == "/api/devices/v2/deployments/device/deployments/next":
            if not self.state.v2 or self.command != "POST":
                return self.error(404, "Resource not found")
            body = self.json_body(raw)
            if not isinstance(body, dict) or not isinstance(body.get("device_provides"), dict):
                return self.error(400, "invalid schema: device_provides")
            return self.next(device, body["device_provides"])
        if path == DEPLOYMENTS + "next":
            if self.command == "POST":
                body = self.json_body(raw)
                if not isinstance(body, dict):
                    return self.error(400, "invalid schema")
                return self.next(device, body)
            if self.command == "GET":
                from urllib.parse import parse_qs, urlsplit
                q = parse_qs(urlsplit(self.path).query)
                return self.next(device, {k: v[0] for k, v in q.items()})
        if path.startswith(DEPLOYMENTS) and self.command == "PUT":
            rest = path[len(DEPLOYMENTS):].split("/")
            if len(rest) == 2 and rest[1] == "status":
                return self.status(device, rest[0], raw)
            if len(rest) == 2 and rest[1] == "log":
                return self.log(device, rest[0], raw)
        if path == "/api/devices/v1/inventory/device/attributes" and self.command in ("PUT",
                                                                                       "PATCH"):
            return self.attributes(device, raw)
        return self.error(404, "Resource not found")

    # -- deviceauth -------------------------------------------------------------------------
    def auth(self, raw):
        with self.state.lock:
            self.state.auth_requests += 1
        body = self.json_body(raw)
        if not isinstance(body, dict):
            return self.error(400, "failed to decode auth request: not JSON")
        id_data, pubkey = body.get("id_data"), body.get("pubkey")
        if not isinstance(id_data, str) or not isinstance(pubkey, str) or not id_data or not pubkey:
            return self.error(400, "id_data and pubkey are required")
        identity = self.json_body(id_data.encode())
        if not isinstance(identity, dict) or not identity:
            return self.error(400, "id_data must be a JSON object")
        sig = self.headers.get("X-MEN-Signature")
        if not sig:
            return self.error(400, "missing request signature header")
        try:
            signature = base64.b64decode(sig, validate=True)
        except ValueError:
            return self.error(400, "signature is not base64")
        ok = verify_signature(pubkey, raw, signature)
        if ok is None:
            return self.error(400, "cannot decode public key")
        if not ok:
            return self.error(401, "signature verification failed")
        if self.state.tenant_token and body.get("tenant_token") != self.state.tenant_token:
            return self.error(401, "tenant token verification failed")
        key = normalise_pem(pubkey)
        with self.state.lock:
            dev = self.state.devices.get(key)
            if dev is None:
                dev = {"id": secrets.token_hex(12), "id_data": identity, "pubkey": pubkey,
                       "status": "accepted" if self.state.auto_accept else "pending"}
                self.state.devices[key] = dev
            if dev["status"] != "accepted":
                status = dev["status"]
            else:
                token = jwt_for(dev["id"])
                self.state.tokens[token] = dev["id"]
                status = "accepted"
        if status != "accepted":
            return self.error(401, "device is %s" % status)
        return self.answer(200, token.encode(), "application/jwt")

    # -- deployments ------------------------------------------------------------------------
    def next(self, device, provides):
        name, dtype = provides.get("artifact_name"), provides.get("device_type")
        for field, value in (("artifact_name", name), ("device_type", dtype)):
            if not isinstance(value, str) or not 1 <= len(value) <= 4096:
                return self.error(400, "%s: cannot be blank" % field)
        with self.state.lock:
            for dep in self.state.deployments:
                key = (device, dep["id"])
                status = self.state.device_deployments.get(key, "pending")
                if status in FINISHED or dep["aborted"] or dtype not in dep["device_types"]:
                    continue
                if status == "pending" and name == dep["artifact_name"] and not dep["force"]:
                    self.state.device_deployments[key] = "already-installed"
                    self.state.statuses.append({"device": device, "deployment": dep["id"],
                                                "status": "already-installed",
                                                "by": "server"})
                    continue
                answer = {"id": dep["id"], "artifact": {
                    "id": dep["id"] + "-artifact", "artifact_name": dep["artifact_name"],
                    "source": {"uri": dep["uri"], "expire": "2099-01-01T00:00:00Z"},
                    "device_types_compatible": dep["device_types"]}}
                break
            else:
                answer = None
        if answer is None:
            return self.answer(204)
        return self.answer(200, answer)

    def status(self, device, dep_id, raw):
        body = self.json_body(raw)
        if not isinstance(body, dict) or body.get("status") not in STATUSES:
            return self.error(400, "status: must be a valid value")
        with self.state.lock:
            dep = next((d for d in self.state.deployments if d["id"] == dep_id), None)
            if dep is None:
                code = 404
            elif dep["aborted"]:
                code = 409
            elif dep.get("abort_on") == body["status"]:
                # The operator aborts the deployment just as the device reports this status.
                dep["aborted"] = True
                code = 409
            else:
                self.state.device_deployments[(device, dep_id)] = body["status"]
                self.state.statuses.append({"device": device, "deployment": dep_id,
                                            "status": body["status"],
                                            "substate": body.get("substate")})
                code = 204
        if code == 404:
            return self.error(404, "Resource not found")
        if code == 409:
            return self.error(409, "deployment aborted")
        return self.answer(204)

    def log(self, device, dep_id, raw):
        body = self.json_body(raw)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and all(isinstance(m.get(k), str) and m.get(k)
                                            for k in ("timestamp", "level", "message"))
                for m in messages):
            return self.error(400, "messages: timestamp, level and message are required")
        with self.state.lock:
            if not any(d["id"] == dep_id for d in self.state.deployments):
                code = 404
            else:
                self.state.logs.append({"device": device, "deployment": dep_id,
                                        "messages": messages})
                code = 204
        return self.answer(code) if code == 204 else self.error(404, "Resource not found")

    # -- inventory --------------------------------------------------------------------------
    def attributes(self, device, raw):
        body = self.json_body(raw)
        if not isinstance(body, list) or not all(
                isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"]
                and isinstance(a.get("value"), (str, int, float, list)) for a in body):
            return self.error(400, "expected a list of {name, value} attributes")
        with self.state.lock:
            if self.command == "PUT":
                self.state.inventory[device] = body
            else:
                old = {a["name"]: a for a in self.state.inventory.get(device, [])}
                old.update({a["name"]: a for a in body})
                self.state.inventory[device] = list(old.values())
        return self.answer(200)

    # -- control ----------------------------------------------------------------------------
    def control(self, path, raw):
        body = self.json_body(raw) if raw else {}
        s = self.state
        with s.lock:
            if path == "/_control/state":
                snapshot = json.loads(json.dumps(s.snapshot()))
            elif path == "/_control/accept":
                for dev in s.devices.values():
                    dev["status"] = "accepted"
            elif path == "/_control/deploy":
                s.deployments.append({
                    "id": body.get("id") or secrets.token_hex(16),
                    "artifact_name": body["artifact_name"], "uri": body["uri"],
                    "device_types": body.get("device_types", ["beaglebone"]),
                    "aborted": False, "force": body.get("force", False),
                    "abort_on": body.get("abort_on")})
            elif path == "/_control/abort":
                for dep in s.deployments:
                    if dep["id"] == body["id"]:
                        dep["aborted"] = True
            elif path == "/_control/expire-tokens":
                s.tokens.clear()
            elif path == "/_control/fail":
                s.faults.append({"prefix": body["prefix"], "count": body.get("count", 1),
                                 "status": body.get("status", 503)})
            else:
                snapshot = None
        if path == "/_control/state":
            return self.answer(200, snapshot)
        return self.answer(200, {"ok": True})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--auto-accept", action="store_true")
    p.add_argument("--tenant-token", default="")
    p.add_argument("--v2", action="store_true", help="serve POST /api/devices/v2/.../next")
    args = p.parse_args()
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
