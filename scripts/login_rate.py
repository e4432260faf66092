#!/usr/bin/env python3
"""Password logins per second against a running server: CONCURRENCY clients, each doing N
full logins (init2, begin, cred) over one keep-alive TLS connection. LOGIN_INIT=init logs in
the 2022 way (and works with builds older than init2); --token prints one token instead.
usage: login_rate.py HOST PORT CA_PEM ACCOUNT PASSWORD [CONCURRENCY] [N] [--token]"""
import http.client, json, os, ssl, sys, threading, time

host, port, ca, account, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
conc = int(sys.argv[6]) if len(sys.argv) > 6 else 4
n = int(sys.argv[7]) if len(sys.argv) > 7 else 25
ctx = ssl.create_default_context(cafile=ca)

if os.environ.get("LOGIN_INIT", "init2") == "init":
    init = {"step": {"init": account}}
else:
    init = {"step": {"init2": {"username": account, "issue": "token", "privileged": False}}}

def login(c):
    c.request("POST", "/v1/auth", json.dumps(init), {"Content-Type": "application/json"})
    r = c.getresponse(); sid = r.getheader("x-kanidm-auth-session-id"); r.read()
    h = {"Content-Type": "application/json", "x-kanidm-auth-session-id": sid}
    c.request("POST", "/v1/auth", json.dumps({"step": {"begin": "password"}}), h); c.getresponse().read()
    c.request("POST", "/v1/auth", json.dumps({"step": {"cred": {"password": password}}}), h)
    return json.loads(c.getresponse().read().decode())["state"].get("success")

if "--token" in sys.argv:
    print(login(http.client.HTTPSConnection(host, port, context=ctx)))
    sys.exit(0)

def worker(out):
    c = http.client.HTTPSConnection(host, port, context=ctx)
    ok = 0
    for _ in range(n):
        ok += login(c) is not None
    out.append(ok)

out, start = [], time.time()
threads = [threading.Thread(target=worker, args=(out,)) for _ in range(conc)]
[t.start() for t in threads]; [t.join() for t in threads]
elapsed = time.time() - start
print(f"login_rate {sum(out) / elapsed:.1f}/s ({sum(out)} successful logins in {elapsed:.2f}s, {conc} clients)")
