#!/usr/bin/env python3
"""Load driver of scripts/upgrade-test.sh (Python 3 standard library only).

  upgrade-load.py seed   --admin URL --users N --state FILE
  upgrade-load.py run    --issuer URL --admin URL --state FILE --stop-file F
                         [--workers 4] [--max-seconds 1200]
  upgrade-load.py signin --issuer URL --state FILE --username U --password P

`seed` creates N users and one confidential, first-party client through the
admin API (TESSERA_ADMIN_TOKEN) and writes what it made to FILE.

`run` keeps the cluster busy until F exists (or --max-seconds pass): each
worker signs users in (GET /authorize, POST /login, code for tokens at
/token), rotates its refresh-token chains, introspects the access token each
rotation issued (it must be active), and revokes every fifth new chain (its
refresh token and the access token issued with it must then introspect
inactive). When told to stop it checks
that nothing was lost: every seeded user and the client still exist (admin
API), every live chain still refreshes, every revoked token is still
inactive and refused. It prints the figures and exits 1 on any failure.

`signin` signs one user in: exit 0 if it got tokens, 3 if the login was
refused (the login page came back), 1 on anything else.

An `https` admin URL (a cluster port with `[cluster.tls]`) is reached with
the client certificate UPGRADE_LOAD_CERT / UPGRADE_LOAD_KEY, trusting only
UPGRADE_LOAD_CA (the local cluster's certs/node1.pem, node1.key, ca.pem).

A request that fails with a connection error or 502/503/504 (a node
restarting) is retried, up to RETRY_FOR seconds; an operation that needed a
retry and then succeeded counts as retried. Anything else unexpected is a
failure. Every loop is bounded in time, and only the given URLs (loopback)
are contacted.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse

RETRY_FOR = 30.0
RETRYABLE = {502, 503, 504}
CLIENT_ID = "upgrade-load"
REDIRECT = "http://127.0.0.1:8765/cb"


class Retryable(Exception):
    pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = {}
        self.retried = 0
        self.failures = []

    def done(self, kind, retried):
        with self.lock:
            self.ops[kind] = self.ops.get(kind, 0) + 1
            self.retried += 1 if retried else 0

    def fail(self, kind, why):
        with self.lock:
            self.failures.append(f"{kind}: {why}")
        print(f"upgrade-load: FAILURE {kind}: {why}", file=sys.stderr, flush=True)


_TLS = None


def tls_context():
    """The client side of the cluster port's mutual TLS (see the module doc)."""
    global _TLS
    if _TLS is None:
        names = ("UPGRADE_LOAD_CA", "UPGRADE_LOAD_CERT", "UPGRADE_LOAD_KEY")
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            sys.exit(f"upgrade-load: an https URL needs {', '.join(missing)}")
        ctx = ssl.create_default_context(cafile=os.environ["UPGRADE_LOAD_CA"])
        ctx.load_cert_chain(os.environ["UPGRADE_LOAD_CERT"], os.environ["UPGRADE_LOAD_KEY"])
        _TLS = ctx
    return _TLS


def request(url, method="GET", body=None, headers=None):
    """One HTTP request, no redirects followed: (status, headers, body)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=15, context=tls_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    path = u.path + ("?" + u.query if u.query else "")
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
    except (OSError, http.client.HTTPException) as e:
        raise Retryable(f"{method} {u.path}: {e.__class__.__name__}: {e}") from e
    finally:
        conn.close()
    if res.status in RETRYABLE:
        raise Retryable(f"{method} {u.path}: {res.status}")
    return res.status, res.headers, data


class Attempt:
    """Calls that retry retryable errors and remember whether they had to."""

    def __init__(self):
        self.retried = False

    def call(self, *args, **kwargs):
        deadline = time.monotonic() + RETRY_FOR
        pause = 0.2
        while True:
            try:
                return request(*args, **kwargs)
            except Retryable:
                if time.monotonic() >= deadline:
                    raise
                self.retried = True
                time.sleep(pause)
                pause = min(pause * 2, 2.0)


def form(fields):
    return urllib.parse.urlencode(fields).encode()


def basic(client_id, secret):
    raw = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def as_json(data):
    try:
        return json.loads(data)
    except ValueError:
        return {}


class Driver:
    def __init__(self, args, state, stats):
        self.issuer = args.issuer.rstrip("/")
        self.state = state
        self.stats = stats
        self.auth = basic(CLIENT_ID, state["client_secret"])

    def post_form(self, att, path, fields, extra=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": self.auth}
        headers.update(extra or {})
        return att.call(self.issuer + path, "POST", form(fields), headers)

    def sign_in(self, username, password):
        """Log in and redeem the code: the token response."""
        att = Attempt()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
            "scope": "openid offline_access", "state": secrets.token_hex(8),
            "nonce": secrets.token_hex(8), "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        })
        status, headers, body = att.call(f"{self.issuer}/authorize?{query}")
        page = body.decode(errors="replace")
        req = re.search(r'name="req" value="([^"]*)"', page)
        csrf = re.search(r'name="csrf" value="([^"]*)"', page)
        cookie = re.search(r"tessera_csrf=([^;]+)", headers.get("Set-Cookie", "") or "")
        if status != 200 or not (req and csrf):
            raise RuntimeError(f"/authorize answered {status} without a login form")
        cookies = f"tessera_csrf={cookie.group(1) if cookie else csrf.group(1)}"
        fields = {"req": _unescape(req.group(1)), "csrf": _unescape(csrf.group(1)),
                  "username": username, "password": password}
        status, headers, body = att.call(
            self.issuer + "/login", "POST", form(fields),
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies})
        location = headers.get("Location", "")
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code")
        if status not in (302, 303) or not code:
            raise RuntimeError(f"/login answered {status} (Location {location[:80]!r})")
        status, _, body = self.post_form(att, "/token", {
            "grant_type": "authorization_code", "code": code[0],
            "redirect_uri": REDIRECT, "code_verifier": verifier})
        tokens = as_json(body)
        if status != 200 or "refresh_token" not in tokens:
            raise RuntimeError(f"code exchange answered {status}: {body[:200]!r}")
        return tokens, att.retried

    def refresh(self, refresh_token):
        att = Attempt()
        status, _, body = self.post_form(
            att, "/token", {"grant_type": "refresh_token", "refresh_token": refresh_token})
        tokens = as_json(body)
        if status != 200 or "refresh_token" not in tokens:
            raise RuntimeError(f"refresh answered {status}: {body[:200]!r}")
        return tokens, att.retried

    def refresh_refused(self, refresh_token):
        att = Attempt()
        status, _, body = self.post_form(
            att, "/token", {"grant_type": "refresh_token", "refresh_token": refresh_token})
        if status != 400 or as_json(body).get("error") != "invalid_grant":
            raise RuntimeError(f"a revoked refresh token answered {status}: {body[:200]!r}")
        return att.retried

    def active(self, token, hint):
        att = Attempt()
        status, _, body = self.post_form(
            att, "/introspect", {"token": token, "token_type_hint": hint})
        if status != 200:
            raise RuntimeError(f"/introspect answered {status}: {body[:200]!r}")
        return as_json(body).get("active") is True, att.retried

    def revoke(self, token):
        att = Attempt()
        status, _, body = self.post_form(
            att, "/revoke", {"token": token, "token_type_hint": "refresh_token"})
        if status != 200:
            raise RuntimeError(f"/revoke answered {status}: {body[:200]!r}")
        return att.retried


def _unescape(s):
    return (s.replace("&quot;", '"').replace("&#x27;", "'").replace("&#x2f;", "/")
            .replace("&#x2F;", "/").replace("&lt;", "<").replace("&gt;", ">")
            .replace("&amp;", "&"))


def attempt(stats, kind, fn):
    """Run one operation; count it, or record its failure. Its value or None."""
    try:
        value, retried = fn()
    except (RuntimeError, Retryable) as e:
        stats.fail(kind, str(e))
        return None
    stats.done(kind, retried)
    return value


def worker(driver, users, stop, chains, revoked, seed):
    rng = random.Random(seed)
    stats = driver.stats
    signins = 0
    while not stop():
        if len(chains) < 3 or rng.random() < 0.25:
            user = rng.choice(users)
            tokens = attempt(stats, "sign-in", lambda: driver.sign_in(user["username"], user["password"]))
            if tokens is None:
                continue
            signins += 1
            if signins % 5 == 0:
                rt = tokens["refresh_token"]
                if attempt(stats, "revoke", lambda: (True, driver.revoke(rt))):
                    revoked.append(rt)
                    if attempt(stats, "introspect", lambda: driver.active(rt, "refresh_token")):
                        stats.fail("introspect", "a revoked refresh token is active")
                    # Revoking the family revokes its access token too (by
                    # the family's list, or from format 3 by its tag).
                    at = tokens["access_token"]
                    if attempt(stats, "introspect", lambda: driver.active(at, "access_token")):
                        stats.fail("introspect", "a revoked family's access token is active")
            else:
                chains.append({"user": user["username"], "rt": tokens["refresh_token"], "n": 0})
            continue
        chain = rng.choice(chains)
        tokens = attempt(stats, "refresh", lambda: driver.refresh(chain["rt"]))
        if tokens is None:
            chains.remove(chain)
            continue
        chain["rt"], chain["n"] = tokens["refresh_token"], chain["n"] + 1
        live = attempt(stats, "introspect", lambda: driver.active(tokens["access_token"], "access_token"))
        if live is False:
            stats.fail("introspect", "a fresh access token is inactive")


def verify(driver, args, state, chains, revoked):
    """Nothing was lost: users, client, chains, revocations."""
    stats = driver.stats
    admin = args.admin.rstrip("/")
    token = os.environ["TESSERA_ADMIN_TOKEN"]
    names = [u["username"] for u in state["users"]]

    def exists(path):
        att = Attempt()
        status, _, _ = att.call(admin + path, headers={"Authorization": f"Bearer {token}"})
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return None, att.retried

    for name in names:
        attempt(stats, "verify-user", lambda: exists(f"/admin/users/{urllib.parse.quote(name)}"))
    attempt(stats, "verify-client", lambda: exists(f"/admin/clients/{CLIENT_ID}"))
    for chain in chains:
        attempt(stats, "verify-chain", lambda: driver.refresh(chain["rt"]))
    for rt in revoked:
        if attempt(stats, "verify-revoked", lambda: driver.active(rt, "refresh_token")):
            stats.fail("verify-revoked", "a revoked refresh token became active")
        attempt(stats, "verify-revoked", lambda: (None, driver.refresh_refused(rt)))
    return len(names), len(chains), len(revoked)


def seed(args):
    token = os.environ["TESSERA_ADMIN_TOKEN"]
    admin = args.admin.rstrip("/")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run_id = secrets.token_hex(3)
    state = {"client_secret": secrets.token_urlsafe(24), "users": []}
    body = {"client_id": CLIENT_ID, "secret": state["client_secret"], "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"], "first_party": True}
    status, _, data = Attempt().call(admin + "/admin/clients", "POST", json.dumps(body).encode(), headers)
    if status != 201:
        sys.exit(f"upgrade-load: creating the client answered {status}: {data[:200]!r}")
    for i in range(args.users):
        user = {"username": f"load-{run_id}-{i}", "password": secrets.token_urlsafe(12)}
        body = dict(user, email=f"{user['username']}@example.com")
        status, _, data = Attempt().call(admin + "/admin/users", "POST", json.dumps(body).encode(), headers)
        if status != 201:
            sys.exit(f"upgrade-load: creating a user answered {status}: {data[:200]!r}")
        state["users"].append(user)
    with open(args.state, "w") as f:
        json.dump(state, f)
    print(f"upgrade-load: seeded {args.users} users and client {CLIENT_ID}")


def run(args):
    with open(args.state) as f:
        state = json.load(f)
    stats = Stats()
    driver = Driver(args, state, stats)
    began = time.monotonic()

    def stop():
        return os.path.exists(args.stop_file) or time.monotonic() - began > args.max_seconds

    per_worker = [([], []) for _ in range(args.workers)]
    threads = [threading.Thread(target=worker, daemon=True,
                                args=(driver, state["users"], stop, c, r, i))
               for i, (c, r) in enumerate(per_worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load_seconds = time.monotonic() - began
    chains = [c for cs, _ in per_worker for c in cs]
    revoked = [r for _, rs in per_worker for r in rs]
    users, live, gone = verify(driver, args, state, chains, revoked)
    longest = max((c["n"] for c in chains), default=0)
    total = sum(stats.ops.values())
    print("upgrade-load: operations by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.ops.items())))
    print(f"upgrade-load: checked {users} users, 1 client, {live} refresh chains "
          f"(longest {longest} rotations), {gone} revoked refresh tokens")
    print(f"upgrade-load: operations {total}, retried {stats.retried}, failures {len(stats.failures)}, "
          f"load {load_seconds:.0f}s")
    for why in stats.failures[:20]:
        print(f"upgrade-load: failure: {why}")
    return 1 if stats.failures else 0


def signin(args):
    with open(args.state) as f:
        state = json.load(f)
    driver = Driver(args, state, Stats())
    try:
        driver.sign_in(args.username, args.password)
    except RuntimeError as e:
        print(f"upgrade-load: sign-in of {args.username}: {e}")
        return 3 if str(e).startswith("/login answered 200") else 1
    except Retryable as e:
        print(f"upgrade-load: sign-in of {args.username}: {e}")
        return 1
    print(f"upgrade-load: {args.username} signed in")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--admin", required=True)
    s.add_argument("--users", type=int, default=20)
    s.add_argument("--state", required=True)
    r = sub.add_parser("run")
    r.add_argument("--issuer", required=True)
    r.add_argument("--admin", required=True)
    r.add_argument("--state", required=True)
    r.add_argument("--stop-file", required=True)
    r.add_argument("--workers", type=int, default=4)
    r.add_argument("--max-seconds", type=float, default=1200)
    g = sub.add_parser("signin")
    g.add_argument("--issuer", required=True)
    g.add_argument("--state", required=True)
    g.add_argument("--username", required=True)
    g.add_argument("--password", required=True)
    args = p.parse_args()
    if "TESSERA_ADMIN_TOKEN" not in os.environ:
        sys.exit("upgrade-load: set TESSERA_ADMIN_TOKEN")
    if args.mode == "seed":
        seed(args)
        return 0
    return run(args) if args.mode == "run" else signin(args)


if __name__ == "__main__":
    sys.exit(main())
