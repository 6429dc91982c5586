#!/usr/bin/env python3
"""API load benchmark: `trailwatch serve` (release build, SigV4 and an access file) under 50
concurrent signed clients over a one-million-event group, and ingest (`run --once`) timed without
and with that load in the same run.

Steps: simulate one account in one region (~1 M events, kept in --work and reused), ingest it once
into a state directory (reused), `access add` a principal, start `serve`, then
  A. the load alone for --seconds: half FilterLogEvents (a JSON filter pattern over a random one-hour
     range, `limit` 100), half GetLogEvents (a random stream from a random start time, `limit` 100),
     each client on its own keep-alive http.client connection, signing every request with
     botocore's SigV4Auth; errors are any non-200 or a `__type` in the answer;
  B. ingest of a second bucket (a few hundred thousand events, a fresh state directory each time)
     timed back-to-back without load, then repeatedly during the same load, then again without.
Prints requests/s and p50/p99 latency per action, the CPU time of the clients and of the server,
the load average, and the ingest ratio (time without load / time with load), each beside its target.

The clients are spread over --procs processes (threads within each) so that one GIL is not the
limit; the clients' CPU time is printed so a saturated client side shows.

  python3 bench/api_load.py --work /tmp/apiload [--seconds 30] [--clients 50] [--procs 4]
      [--serve-setting api-query-nice=19 ...]   (config settings for `serve`, e.g. api-queries)
      [--serve-nice 10]                         (the whole server's nice, as trailwatch-serve.service's Nice=10)
      [--compare-cache 256 [--rounds 2]]        (cache off vs on, random pages vs paging clients)
      [--rate 200 [--arrivals even|poisson]]    (open loop: requests/s offered by all clients in A and B)
      [--find-rate 50,100,150,200]              (instead of A and B: each rate with ingest beside it)
      [--client-nice 10] [--warm-seconds 15]    (clients' nice value; load before measuring)

Closed loop (--rate 0, the default): each client sends its next request as soon as it has its
answer, so mean latency = clients / throughput: the capacity ("flat out"), not a latency figure.
Open loop (--rate R): each client sends R / clients requests/s on its own schedule whatever the
server does, and a request's latency runs from its scheduled send time (each request is built and
signed before that time), so a stalled server or a client that fell behind counts against p99 (no
coordinated omission, as wrk2 measures). Printed besides: the rate offered and achieved (requests
over the time until the last answer), the sends that left late, and the server's and clients' CPU
per request. With --rate, A0 measures the same clients closed loop first (the capacity).

Client modes: `random` (each request a fresh page at a random place, as above) and `paging` (each
client walks on from its last page with nextToken / nextForwardToken, as `aws logs` and boto3's
paginators do, starting a new walk at a random place when one ends). The block cache's hits and
misses over each measurement come from /metrics, and so do the packed chunks inflated (per request).
"""
import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATTERN = '{ $.eventSource = "ec2.amazonaws.com" }'
TICK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def proc_cpu(pid):
    """User+system CPU seconds of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pct(sorted_xs, p):
    if not sorted_xs:
        return float("nan")
    return sorted_xs[min(len(sorted_xs) - 1, int(p / 100 * len(sorted_xs)))]


# ---------------------------------------------------------------- clients

def client_process(port, key, secret, plan, threads, start_at, seconds, out, mode="random", rate=0.0, arrivals="even",
                   nice=0):
    """One client process: `threads` threads, each with its own keep-alive connection.

    `rate` 0: closed loop, each thread sends its next request as soon as the last one answered.
    `rate` > 0: open loop, each thread sends `rate` requests/s on its own schedule (evenly spaced
    from a random phase, or Poisson), and a request's latency runs from its scheduled send time,
    so a stalled server or a client that falls behind counts against the percentiles (no
    coordinated omission). Each request is built and signed before its time comes."""
    if nice:
        os.nice(nice)
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"http://127.0.0.1:{port}/"
    results = []  # per thread: list of (action, seconds, ok, events or -1, seconds late, answered at)

    def worker(n):
        rnd = random.Random(os.getpid() * 1000 + n)
        signer = SigV4Auth(Credentials(key, secret), "logs", "us-east-1")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        results.append(mine)
        i = 0
        cursor = {}  # paging: per action, the body of the next page (None: start a new walk)
        while time.time() < start_at:
            time.sleep(0.005)
        end = start_at + seconds
        # Open loop: the schedule on the perf_counter clock, from a random phase within one interval.
        base = time.perf_counter() + (start_at - time.time())
        scheduled = base + (rnd.random() / rate if rate > 0 else 0.0)
        while True:
            if rate > 0:
                if scheduled >= base + seconds:
                    break
            elif time.time() >= end:
                break
            # Alternate per thread, starting on a different action for odd threads: half and half.
            if (i + n) % 2 == 0:
                action = "FilterLogEvents"
                t0 = rnd.randint(plan["first"], max(plan["first"], plan["last"] - 3_600_000))
                body = {"logGroupName": plan["group"], "filterPattern": PATTERN,
                        "startTime": t0, "endTime": t0 + 3_600_000, "limit": 100}
            else:
                action = "GetLogEvents"
                s = rnd.choice(plan["streams"])
                body = {"logGroupName": plan["group"], "logStreamName": s["name"],
                        "startTime": rnd.randint(s["first"], s["last"]), "startFromHead": True, "limit": 100}
            if mode == "paging":
                # As `aws logs` and boto3's paginators do: the next page of the walk this client is
                # on (a new walk from a random start, as above, when the last one ended).
                body = cursor.get(action) or body
            data = json.dumps(body).encode()
            req = AWSRequest(method="POST", url=url, data=data, headers={
                "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328." + action})
            if rate > 0:
                signer.add_auth(req)
                wait = scheduled - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                t = scheduled  # latency from when the request was due, not from when it left
                late = max(0.0, time.perf_counter() - scheduled)
                scheduled += rnd.expovariate(rate) if arrivals == "poisson" else 1.0 / rate
            else:
                t = time.perf_counter()
                late = 0.0
                signer.add_auth(req)
            try:
                conn.request("POST", "/", body=data, headers=dict(req.headers.items()))
                resp = conn.getresponse()
                answer = resp.read()
                dt = time.perf_counter() - t
                ok = resp.status == 200 and b'"__type"' not in answer
                events = -1
                if ok and mode == "paging":
                    page = json.loads(answer)
                    events = len(page.get("events", []))
                    nxt = page.get("nextToken" if action == "FilterLogEvents" else "nextForwardToken")
                    # GetLogEvents ends where an empty page gives its token back.
                    cursor[action] = dict(body, nextToken=nxt) if nxt and events and nxt != body.get("nextToken") else None
                elif ok and (i // 2) % 10 == 0:  # a sample of both actions: the page is JSON and holds events
                    events = len(json.loads(answer).get("events", []))
                if not ok:
                    events = -2
                    if len(mine) < 100000:
                        sys.stderr.write(f"error {resp.status} {action}: {answer[:200]!r}\n")
            except (OSError, http.client.HTTPException) as e:
                dt = time.perf_counter() - t
                ok, events = False, -2
                sys.stderr.write(f"error {action}: {e!r}\n")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            # Only requests that started inside the window count; the last one may end after it.
            # The answer's time after the start, on the same clock: the achieved rate's window.
            mine.append((action, dt, ok, events, late, time.perf_counter() - base))
            i += 1
        conn.close()

    cpu0 = time.process_time()
    ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put({"results": [r for m in results for r in m], "cpu": time.process_time() - cpu0})


def load(port, key, secret, plan, clients, procs, seconds, during=None, mode="random", rate=0.0, arrivals="even", nice=0):
    """Runs the clients for `seconds`; `during()` (if any) runs in this process meanwhile.
    `rate` > 0: open loop at `rate` requests/s in all, spread evenly over the clients.
    Returns the per-action figures, the clients' and the server's CPU seconds and the load average."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 1.0
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=client_process, args=(port, key, secret, plan, n, start_at, seconds, out, mode, rate / clients,
                                                   arrivals, nice)) for n in per if n]
    for p in ps:
        p.start()
    while time.time() < start_at:
        time.sleep(0.01)
    serve_cpu0 = proc_cpu(plan["serve_pid"])
    cache0 = cache_figures(port)
    extra = during(start_at + seconds) if during else None
    got = [out.get() for _ in ps]
    wall = time.time() - start_at
    serve_cpu = proc_cpu(plan["serve_pid"]) - serve_cpu0
    cache1 = cache_figures(port)
    cache = {k: cache1.get(k, 0) - cache0.get(k, 0) for k in ("hits", "misses", "chunk_inflations")}
    cache["hit_ratio"] = cache["hits"] / max(1, cache["hits"] + cache["misses"])
    loadavg = os.getloadavg()
    for p in ps:
        p.join()
    by = {}
    for r in (r for g in got for r in g["results"]):
        by.setdefault(r[0], []).append(r)
    figures = {}
    every = [r for rs in by.values() for r in rs]
    lat_all = sorted(r[1] for r in every)
    total = {"requests": len(every), "per_s": len(every) / seconds, "errors": sum(1 for r in every if not r[2]),
             "p50_ms": pct(lat_all, 50) * 1000, "p99_ms": pct(lat_all, 99) * 1000,
             "max_ms": (lat_all[-1] if lat_all else float("nan")) * 1000,
             "late_1ms": sum(1 for r in every if r[4] > 0.001), "late_10ms": sum(1 for r in every if r[4] > 0.010),
             "max_late_ms": max((r[4] for r in every), default=0.0) * 1000,
             # Open loop: every scheduled request is sent, so the rate achieved is the requests over
             # the time until the last answer (longer than the window when the server fell behind).
             "achieved_per_s": len(every) / max(seconds, max((r[5] for r in every), default=seconds))}
    for action, rs in sorted(by.items()):
        lat = sorted(r[1] for r in rs)
        sampled = [r[3] for r in rs if r[3] >= 0]
        figures[action] = {
            "requests": len(rs), "per_s": len(rs) / seconds, "errors": sum(1 for r in rs if not r[2]),
            "p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000, "max_ms": lat[-1] * 1000,
            "sampled_pages": len(sampled), "events_per_page": sum(sampled) / max(1, len(sampled)),
            "empty_pages": sum(1 for e in sampled if e == 0),
        }
    return {"actions": figures, "total": total, "rate": rate, "arrivals": arrivals, "client_nice": nice, "cache": cache,
            "client_cpu_s": sum(g["cpu"] for g in got), "serve_cpu_s": serve_cpu, "wall_s": wall, "loadavg": loadavg,
            "extra": extra}


def report(title, res, seconds):
    print(f"\n{title}: {seconds} s, load average {res['loadavg'][0]:.2f} {res['loadavg'][1]:.2f} {res['loadavg'][2]:.2f}")
    total = 0
    for action, f in res["actions"].items():
        total += f["requests"]
        p99 = "meets" if f["p99_ms"] < 100 else "MISSES"
        print(f"  {action:16} {f['per_s']:7.1f} req/s  p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms"
              f" (target < 100 ms: {p99})  max {f['max_ms']:6.1f} ms  errors {f['errors']} (target 0)"
              f"  {f['events_per_page']:.0f} events/page over {f['sampled_pages']} sampled pages, {f['empty_pages']} empty")
    t = res["total"]
    print(f"  total {total / seconds:.1f} req/s  p50 {t['p50_ms']:.1f} ms  p99 {t['p99_ms']:.1f} ms  errors {t['errors']};"
          f" CPU over the run: server {res['serve_cpu_s'] / seconds * 100:.0f} %,"
          f" clients {res['client_cpu_s'] / seconds * 100:.0f} % (of {os.cpu_count()} cores = {os.cpu_count() * 100} %);"
          f" per request: server {res['serve_cpu_s'] / max(1, total) * 1000:.2f} ms, clients {res['client_cpu_s'] / max(1, total) * 1000:.2f} ms")
    if res.get("rate"):
        print(f"  open loop ({res['arrivals']} arrivals{', clients at nice ' + str(res['client_nice']) if res.get('client_nice') else ''}):"
              f" offered {res['rate']:.1f} req/s, achieved {t['achieved_per_s']:.1f} req/s (answers until the last one);"
              f" sends late by > 1 ms {t['late_1ms']}, by > 10 ms {t['late_10ms']} (max {t['max_late_ms']:.1f} ms);"
              f" latency counted from each request's scheduled send time")
    c = res.get("cache", {})
    print(f"  block cache: {c.get('hits', 0):.0f} hits, {c.get('misses', 0):.0f} misses (hit ratio {c.get('hit_ratio', 0):.2f}),"
          f" {c.get('chunk_inflations', 0) / max(1, total):.1f} packed chunks inflated per request")


def cache_figures(port):
    """The server's block-cache counters from /metrics (unsigned)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = {}
    for line in text.splitlines():
        for k in ("hits", "misses", "chunk_inflations"):
            if line.startswith(f"trailwatch_api_block_cache_{k} "):
                out[k] = float(line.split()[1])
    return out


# ---------------------------------------------------------------- set-up

def sign_call(port, key, secret, action, body):
    """One signed request, for the set-up (DescribeLogStreams)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328." + action})
    SigV4Auth(Credentials(key, secret), "logs", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/", body=data, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{action}: {resp.status} {answer}")
    return answer


def simulate(bin_, bucket, events, hours, seed):
    """A one-account, one-region bucket of about `events` events (the simulator writes about
    0.997 × rate × 60 events per simulated hour), made once and reused."""
    done = bucket + ".done"
    if os.path.exists(done):
        return
    shutil.rmtree(bucket, ignore_errors=True)
    rate = events / (hours * 60 * 0.997)
    run([bin_, "simulate", "--out", bucket, "--accounts", "1", "--regions", "us-east-1", "--hours", str(hours),
         "--rate", f"{rate:.1f}", "--seed", str(seed), "--no-digests"], stdout=subprocess.DEVNULL)
    open(done, "w").close()


def ingest(bin_, bucket, state, no_rules):
    """`run --once` into a fresh state directory; its wall time."""
    shutil.rmtree(state, ignore_errors=True)
    t = time.perf_counter()
    run([bin_, "run", "--once", "--logs", bucket, "--state", state, "--rules", no_rules],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="working folder; buckets and the big state are kept and reused")
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "trailwatch"))
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--ingest-events", type=int, default=300_000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--procs", type=int, default=4, help="client processes the clients are spread over")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--perf", help="record the server with `perf record -g` into this file during the load alone")
    ap.add_argument("--serve-setting", action="append", default=[], metavar="KEY=VALUE",
                    help="a config setting for `serve` (api-queries, api-query-nice, ...); repeatable")
    ap.add_argument("--serve-nice", type=int, default=10,
                   help="nice value of the whole `serve` process, as its unit's Nice=10 sets it (0: none)")
    ap.add_argument("--compare-cache", type=float, metavar="MIB",
                    help="instead of A and B: a server with api-cache-size 0 and one with MIB, measured in turn"
                         " (--rounds times, alternating), each with random pages and with paging clients")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=float, default=0,
                    help="open loop: requests/s offered by all clients together in A and B, latency from each scheduled"
                         " send (0: closed loop, each client sends again as soon as it has its answer: the capacity)")
    ap.add_argument("--arrivals", choices=("even", "poisson"), default="even",
                    help="open loop: each client's sends evenly spaced from a random phase, or a Poisson process")
    ap.add_argument("--find-rate", metavar="R1,R2,...",
                    help="instead of A and B: each offered rate in turn with ingest beside it; prints each one's"
                         " p99, errors and ingest ratio, and the highest that met all three targets")
    ap.add_argument("--warm-seconds", type=float, default=3,
                    help="closed-loop load before measuring (a fresh server packs each block on its first miss, ~6 s of CPU for the group)")
    ap.add_argument("--client-nice", type=int, default=0,
                    help="nice value of the client processes (on one host they take CPU that remote clients would not)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if not os.path.exists(a.bin):
        run(["swift", "build", "-c", "release", "--product", "trailwatch"], cwd=ROOT)
    no_rules = os.path.join(a.work, "no-rules")
    os.makedirs(no_rules, exist_ok=True)

    # 1. The big group, built once.
    big, big_state = os.path.join(a.work, "load-bucket"), os.path.join(a.work, "load-state")
    simulate(a.bin, big, a.events, 24, 1)
    if not os.path.exists(big_state + ".done"):
        dt = ingest(a.bin, big, big_state, no_rules)
        print(f"ingested the load bucket in {dt:.1f} s")
        open(big_state + ".done", "w").close()
    small = os.path.join(a.work, "ingest-bucket")
    simulate(a.bin, small, a.ingest_events, 6, 2)

    # 2. A principal for the one account, and the server.
    account = os.listdir(os.path.join(big, "AWSLogs"))[0]
    access = os.path.join(a.work, "access")
    if os.path.exists(access):
        os.remove(access)
    added = json.loads(run([a.bin, "access", "add", "bench", "--accounts", account, "--file", access],
                           capture_output=True, text=True).stdout)["AccessKey"]
    key, secret = added["AccessKeyId"], added["SecretAccessKey"]
    def start_serve(settings, name):
        """A `serve` process over the big state with these config settings: (process, port)."""
        serve_config = []
        if settings:
            path = os.path.join(a.work, f"serve-{name}.conf")
            with open(path, "w") as f:
                f.write("".join(f"{k.strip()} = {v.strip()}\n" for k, v in (x.split("=", 1) for x in settings)))
            serve_config = ["--config", path]
        # As systemd/trailwatch-serve.service runs it: the whole process at its Nice= (10).
        niced = ["nice", "-n", str(a.serve_nice)] if a.serve_nice else []
        serve = subprocess.Popen(niced + [a.bin, "serve", "--state", big_state, "--listen", "127.0.0.1:0", "--log-to", "stderr",
                                  "--access-file", access] + serve_config, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        port = None
        serve_log = []
        deadline = time.time() + 60
        for line in serve.stderr:
            serve_log.append(line)
            if "http://127.0.0.1:" in line:
                port = int(line.split("http://127.0.0.1:")[1].split("/")[0].split()[0].rstrip(".,"))
                break
            if time.time() > deadline:
                break
        if port is None:
            serve.kill()
            sys.exit("serve did not say where it listens:\n" + "".join(serve_log[-20:]))
        threading.Thread(target=lambda: [serve_log.append(l) for l in serve.stderr], daemon=True).start()
        return serve, port

    serves = []
    if a.compare_cache is not None:
        # Two servers over the same state, the cache off and on, measured in turn.
        serves.append(("cache 0", *start_serve(a.serve_setting + ["api-cache-size=0"], "off")))
        serves.append((f"cache {a.compare_cache:g} MiB",
                       *start_serve(a.serve_setting + [f"api-cache-size={a.compare_cache:g}"], "on")))
    else:
        serves.append(("serve", *start_serve(a.serve_setting, "one")))
    serve, port = serves[0][1], serves[0][2]

    try:
        group = f"aws-cloudtrail-logs-{account}"
        streams = sign_call(port, key, secret, "DescribeLogStreams", {"logGroupName": group})["logStreams"]
        plan = {"group": group, "serve_pid": serve.pid,
                "streams": [{"name": s["logStreamName"], "first": s["firstEventTimestamp"],
                             "last": s["lastEventTimestamp"]} for s in streams]}
        plan["first"] = min(s["first"] for s in plan["streams"])
        plan["last"] = max(s["last"] for s in plan["streams"])
        stored = sum(s.get("storedBytes", 0) for s in streams)
        print(f"load average at the start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"serve runs at nice {a.serve_nice} (the trailwatch-serve unit's Nice=10; --serve-nice 0 for none)")
        print(f"group {group}: {len(streams)} streams, {stored / 1e6:.0f} MB stored, "
              f"{(plan['last'] - plan['first']) / 3_600_000:.1f} h of events; clients {a.clients} in {a.procs} processes; "
              f"filter pattern {PATTERN} over a random 1 h range, limit 100; GetLogEvents limit 100")

        if a.compare_cache is not None:
            # Before (cache off) and after (cache on), alternating, both client modes each time.
            results = []
            for r in range(a.rounds):
                for name, proc, p in (serves if r % 2 == 0 else serves[::-1]):
                    plan["serve_pid"] = proc.pid
                    load(p, key, secret, plan, a.clients, a.procs, 3, mode="paging")  # warm-up
                    for mode in ("random", "paging"):
                        res = load(p, key, secret, plan, a.clients, a.procs, a.seconds, mode=mode)
                        report(f"{name}, {mode} pages, round {r + 1}", res, a.seconds)
                        results.append({"server": name, "mode": mode, "round": r + 1, **res})
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(results, f, indent=1)
            return

        # Warm-up: the page cache for both stores and a short burst of load.
        ingest(a.bin, small, os.path.join(a.work, "ingest-state"), no_rules)
        load(port, key, secret, plan, a.clients, a.procs, a.warm_seconds)
        # How the 50 clients send in A and B: closed loop (--rate 0) or open loop at --rate.
        how = {"rate": a.rate, "arrivals": a.arrivals, "nice": a.client_nice}

        # One client, one request at a time: what a page costs the server with no queue.
        res_1 = load(port, key, secret, plan, 1, 1, 5, nice=a.client_nice)
        report("one client alone", res_1, 5)

        ing_state = os.path.join(a.work, "ingest-state")

        def ingest_until(end):
            times = []
            time.sleep(1.0)  # let the clients reach full speed
            while True:
                dt = ingest(a.bin, small, ing_state, no_rules)
                if time.time() > end:
                    break  # ended after the load did: not a with-load figure
                times.append(dt)
            return times

        def median(xs):
            return sorted(xs)[len(xs) // 2]

        if a.find_rate:
            # Each offered rate in turn with ingest running beside it (as B); two quiet ingest runs
            # between steps, so each step's baseline is the two before it and the two after it (the
            # machine's other load moves). Every rate is run: on a shared machine one step's miss
            # may be noise, so each verdict is printed and the highest rate that met all three.
            rates = [float(x) for x in a.find_rate.split(",")]
            steps = []
            quiet_before = [ingest(a.bin, small, ing_state, no_rules) for _ in range(2)]
            for r in rates:
                res = load(port, key, secret, plan, a.clients, a.procs, a.seconds, during=ingest_until,
                           rate=r, arrivals=a.arrivals, nice=a.client_nice)
                quiet_after = [ingest(a.bin, small, ing_state, no_rules) for _ in range(2)]
                quiet = quiet_before + quiet_after
                quiet_before = quiet_after
                report(f"offered {r:g} req/s while ingesting", res, a.seconds)
                loaded = res["extra"]
                ratio = median(quiet) / median(loaded) if loaded else None
                t = res["total"]
                ok = t["errors"] == 0 and t["p99_ms"] < 100 and ratio is not None and ratio >= 0.8
                print(f"  ingest without load {', '.join(f'{x:.2f}' for x in quiet)} s, with it {', '.join(f'{x:.2f}' for x in loaded)} s:"
                      f" {ratio or float('nan'):.2f}x by median; all targets in this run: {'MET' if ok else 'missed'}")
                steps.append({"rate": r, "ok": ok, "ratio_median": ratio, "quiet_s": quiet, **res})
            print("\nrate: p99, errors, ingest ratio, verdict")
            for x in steps:
                print(f"  {x['rate']:g} req/s: p99 {x['total']['p99_ms']:.1f} ms, errors {x['total']['errors']},"
                      f" ingest {x['ratio_median'] or float('nan'):.2f}x: {'MET' if x['ok'] else 'missed'}")
            passed = [x["rate"] for x in steps if x["ok"]]
            print(f"highest offered rate meeting p99 < 100 ms, no errors and ingest >= 0.8x in the same run:"
                  f" {max(passed):g} req/s" if passed else "no offered rate met all three targets")
            if a.json:
                with open(a.json, "w") as f:
                    json.dump({"one": res_1, "steps": steps}, f, indent=1)
            return

        if a.rate:
            # The capacity figure beside the open-loop one: the same clients flat out.
            res_flat = load(port, key, secret, plan, a.clients, a.procs, a.seconds, nice=a.client_nice)
            report("A0. load alone, closed loop (flat out)", res_flat, a.seconds)

        # A. The load alone (optionally under `perf record` of the server).
        perf = None
        if a.perf:
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", a.perf, "-p", str(serve.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res_a = load(port, key, secret, plan, a.clients, a.procs, a.seconds, **how)
        if perf:
            perf.send_signal(2)
            perf.wait()
        report("A. load alone", res_a, a.seconds)

        # B. Ingest without load, with the load, and without again.
        quiet = [ingest(a.bin, small, ing_state, no_rules) for _ in range(2)]
        res_b = load(port, key, secret, plan, a.clients, a.procs, a.seconds, during=ingest_until, **how)
        quiet += [ingest(a.bin, small, ing_state, no_rules) for _ in range(2)]
        loaded = res_b["extra"]
        report("B. load while ingesting", res_b, a.seconds)
        n_small = a.ingest_events
        print(f"\ningest of ~{n_small:,} events (run --once, fresh state, no rules):")
        print(f"  without load: {', '.join(f'{t:.2f}' for t in quiet)} s (best {min(quiet):.2f}, median {median(quiet):.2f})")
        if loaded:
            print(f"  with the load: {', '.join(f'{t:.2f}' for t in loaded)} s (best {min(loaded):.2f}, median {median(loaded):.2f})")
            ratio_best = min(quiet) / min(loaded)
            ratio_med = median(quiet) / median(loaded)
            verdict = "meets" if ratio_med >= 0.8 else "MISSES"
            print(f"  throughput with load / without: {ratio_med:.2f}x by median, {ratio_best:.2f}x by best (target >= 0.8x: {verdict})")
        else:
            ratio_best = ratio_med = None
            print("  with the load: no run finished inside the load window (raise --seconds)")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"one": res_1, "A": res_a, "B": res_b, "ingest_quiet_s": quiet, "ingest_loaded_s": loaded,
                           "ratio_median": ratio_med, "ratio_best": ratio_best}, f, indent=1)
    finally:
        for _, proc, _ in serves:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
