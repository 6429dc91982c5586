#!/usr/bin/env python3
"""Drives trailwatch's CloudWatch Logs API the way clients do, for LogsAPITests.

Subcommands (each prints one JSON document on stdout):
  get URL GROUP STREAM LIMIT        boto3 get_log_events: forward from the head, then backward from the end,
                                    each until the token comes back unchanged (LIMIT 0: none given)
  filter URL GROUP [PATTERN START END]   boto3's filter_log_events paginator
  metrics URL                       GET URL/metrics parsed with prometheus_client's text parser
  raw URL SCENARIO                  one hand-made HTTP exchange (bad JSON, a 10 MB body, a slow client, ...)
Credentials are the dummy test/test; the server under test authenticates with a test-only hook.
"""
import json
import socket
import sys
import time
import urllib.parse
import urllib.request



def client(url):
    import boto3
    from botocore.config import Config
    return boto3.client(
        "logs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def get(url, group, stream, limit):
    c = client(url)
    out = {"forward": [], "backward": [], "forwardPages": 0, "backwardPages": 0}
    kw = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    if limit > 0:  # 0: no limit, as many as fit in 1 MB
        kw["limit"] = limit
    out["largestPage"] = 0
    token = None
    while True:
        r = c.get_log_events(**kw, **({"nextToken": token} if token else {}))
        out["forwardPages"] += 1
        out["largestPage"] = max(out["largestPage"], len(json.dumps(r["events"])))
        out["forward"] += [[e["timestamp"], e["ingestionTime"], e["message"]] for e in r["events"]]
        if r["nextForwardToken"] == token:
            out["forwardEndEmpty"] = len(r["events"]) == 0
            break
        token = r["nextForwardToken"]
    out["forwardToken"] = token
    kw["startFromHead"] = False
    token = None
    pages = []
    while True:
        r = c.get_log_events(**kw, **({"nextToken": token} if token else {}))
        out["backwardPages"] += 1
        pages.append([[e["timestamp"], e["ingestionTime"], e["message"]] for e in r["events"]])
        if r["nextBackwardToken"] == token:
            break
        token = r["nextBackwardToken"]
    for p in reversed(pages):
        out["backward"] += p
    return out


def filter_(url, group, pattern=None, start=None, end=None):
    c = client(url)
    kw = {"logGroupName": group}
    if pattern:
        kw["filterPattern"] = pattern
    if start:
        kw["startTime"] = int(start)
    if end:
        kw["endTime"] = int(end)
    events, pages = [], 0
    for page in c.get_paginator("filter_log_events").paginate(**kw):
        pages += 1
        events += page["events"]
    return {"events": events, "pages": pages}


def metrics(url):
    from prometheus_client.parser import text_string_to_metric_families
    import ssl
    # A test server's self-signed certificate: encryption is what is checked, not the chain.
    context = ssl._create_unverified_context() if url.startswith("https:") else None
    text = urllib.request.urlopen(url + "/metrics", timeout=10, context=context).read().decode()
    samples = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
    return {"samples": samples}


def exchange(host, port, head, body=b"", pause=None, timeout=20):
    """Sends a request (optionally stalling mid-body) and returns (status, parsed JSON body or None, seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(head)
        if pause is None:
            s.sendall(body)
        else:
            s.sendall(body[:pause])
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        if not data:
            return None, None, time.monotonic() - t0
        headers, _, rest = data.partition(b"\r\n\r\n")
        status = int(headers.split(b" ")[1])
        length = 0
        for line in headers.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        try:
            parsed = json.loads(rest) if rest else None
        except ValueError:
            parsed = None
        return status, parsed, time.monotonic() - t0
    finally:
        s.close()


def raw(url, scenario):
    u = urllib.parse.urlparse(url)
    host, port = u.hostname, u.port

    def head(target, length, extra=b""):
        return (
            b"POST / HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\nX-Amz-Target: " + target.encode()
            + b"\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " + str(length).encode() + b"\r\n" + extra + b"\r\n"
        )

    def call(target, body, **kw):
        status, parsed, secs = exchange(host, port, head(target, len(body)), body, **kw)
        return {"status": status, "type": (parsed or {}).get("__type"), "message": (parsed or {}).get("message"),
                "seconds": secs, "body": parsed}

    if scenario == "slow":
        body = b'{"limit": 1}' + b" " * 88
        return call("Logs_20140328.DescribeLogGroups", body, pause=10)
    if scenario == "huge":
        return call("Logs_20140328.DescribeLogGroups", b"{" + b" " * (10 * 1024 * 1024) + b"}")
    target, body = scenario.split(" ", 1)
    return call("Logs_20140328." + target if target != "-" else "", body.encode())


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "get":
        out = get(args[0], args[1], args[2], int(args[3]))
    elif cmd == "filter":
        out = filter_(*args)
    elif cmd == "metrics":
        out = metrics(args[0])
    elif cmd == "raw":
        out = raw(args[0], args[1])
    else:
        raise SystemExit("unknown subcommand " + cmd)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
