#!/usr/bin/env python3
"""Password logins per second against a running server: CONCURRENCY clients, each doing N
full logins (init, begin, cred) over one keep-alive TLS connection.
usage: login_rate.py HOST PORT CA_PEM ACCOUNT PASSWORD [CONCURRENCY] [N]"""
import http.client, json, ssl, sys, threading, time

host, port, ca, account, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
conc = int(sys.argv[6]) if len(sys.argv) > 6 else 4
n = int(sys.argv[7]) if len(sys.argv) > 7 else 25
ctx = ssl.create_default_context(cafile=ca)

def worker(out):
    c = http.client.HTTPSConnection(host, port, context=ctx)
    ok = 0
    for _ in range(n):
        c.request("POST", "/v1/auth", json.dumps({"step": {"init": account}}), {"Content-Type": "application/json"})
        r = c.getresponse(); sid = r.getheader("x-kanidm-auth-session-id"); r.read()
        h = {"Content-Type": "application/json", "x-kanidm-auth-session-id": sid}
        c.request("POST", "/v1/auth", json.dumps({"step": {"begin": "password"}}), h); c.getresponse().read()
        c.request("POST", "/v1/auth", json.dumps({"step": {"cred": {"password": password}}}), h)
        ok += "success" in c.getresponse().read().decode()
    out.append(ok)

out, start = [], time.time()
threads = [threading.Thread(target=worker, args=(out,)) for _ in range(conc)]
[t.start() for t in threads]; [t.join() for t in threads]
elapsed = time.time() - start
print(f"login_rate {sum(out) / elapsed:.1f}/s ({sum(out)} successful logins in {elapsed:.2f}s, {conc} clients)")
