#!/usr/bin/env python3
"""Peak RSS of `trailwatch run --once` on gzip bombs (issue 7), against a run over the same
bucket without the bomb (the baseline, same run).

Each case is a bucket of two ordinary files plus one bomb, a few MB compressed, inflating to 1 or
4 GiB; the shipped rules are loaded (so small files defer rule matching, the case that used to keep
the whole inflated document). Each run must store both ordinary files, fail the bomb with the
expected counter, and stay under 200 MB peak RSS.

Usage: bench/bomb.py [--work DIR]   (after `swift build -c release`)
"""
import argparse, json, os, shutil, subprocess, sys, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release", "trailwatch")
DAY = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01"
GiB = 1 << 30


def name(stamp, unique):
    return f"123456789012_CloudTrail_us-east-1_{stamp}_{unique}.json.gz"


def record(n, pad=0):
    extra = f',"pad":"{"A" * pad}"' if pad else ""
    return (f'{{"eventVersion":"1.10","eventTime":"2024-03-01T10:00:00Z","eventSource":"ec2.amazonaws.com",'
            f'"eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7",'
            f'"eventID":"{n:08x}-1111-4222-8333-{n:012x}","eventType":"AwsApiCall",'
            f'"recipientAccountId":"123456789012"{extra}}}').encode()


def gzip_stream(path, prefix, piece, total, suffix):
    """Writes prefix + piece repeated up to `total` bytes + suffix as one gzip member, streaming."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = piece * max(1, (1 << 20) // len(piece))
    with open(path, "wb") as f:
        f.write(c.compress(prefix))
        done = 0
        while done < total:
            f.write(c.compress(block))
            done += len(block)
        f.write(c.compress(suffix))
        f.write(c.flush())


# (case, what it holds, expected counter)
CASES = [
    ("record-1g", "one record: a valid prefix, then a 1 GiB string", "too_large",
     lambda p: gzip_stream(p, b'{"Records":[{"eventID":"x","pad":"', b"A", GiB, b'"}]}')),
    ("element-4g", "a 4 GiB string element in Records", "too_large",
     lambda p: gzip_stream(p, b'{"Records":["', b"A", 4 * GiB, b'"]}')),
    ("records-4g", "4 GiB of valid 64 KB records", "too_large",
     lambda p: gzip_stream(p, b'{"Records":[', record(9, 64 << 10) + b",", 4 * GiB, record(10) + b"]}")),
    ("tiny-1g", "1 GiB of empty records {},{},...", "too_large",
     lambda p: gzip_stream(p, b'{"Records":[', b"{},", GiB, b"{}]}")),
    ("zeros-1g", "1 GiB of zero bytes", "not_json",
     lambda p: gzip_stream(p, b"", b"\0", GiB, b"")),
]


def peak_rss_mib(binary, bucket, state):
    """Runs trailwatch once in a fresh Python child so RUSAGE_CHILDREN holds this run alone."""
    code = ("import json,resource,subprocess,sys,time;t=time.perf_counter();"
            "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
            "print(json.dumps({'rc':p.returncode,'s':time.perf_counter()-t,'out':p.stdout[-4000:],'err':p.stderr[-4000:],"
            "'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))")
    shutil.rmtree(state, ignore_errors=True)
    cmd = [binary, "run", "--once", "--logs", bucket, "--state", state, "--rules", os.path.join(ROOT, "rules")]
    return json.loads(subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True, check=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/trailwatch-bench/bombs")
    ap.add_argument("--bin", default=BIN, help="the trailwatch binary (default: the release build)")
    a = ap.parse_args()
    if a.bin == BIN and not os.path.exists(BIN):
        subprocess.run(["swift", "build", "-c", "release", "--product", "trailwatch"], cwd=ROOT, check=True)
    os.makedirs(a.work, exist_ok=True)
    results = []

    def bucket_with(case, make):
        bucket = os.path.join(a.work, case, "b")
        day = os.path.join(bucket, DAY)
        os.makedirs(day, exist_ok=True)
        for stamp, unique, n in [("20240301T1000Z", "GOOD000000000001", 1), ("20240301T1010Z", "GOOD000000000002", 2)]:
            with open(os.path.join(day, name(stamp, unique)), "wb") as f:
                c = zlib.compressobj(6, zlib.DEFLATED, 31)
                f.write(c.compress(b'{"Records":[' + record(n) + b"]}") + c.flush())
        if make:
            path = os.path.join(day, name("20240301T1005Z", "BOMB000000000001"))
            if not os.path.exists(path):
                make(path + ".tmp")
                os.rename(path + ".tmp", path)
            return bucket, os.path.getsize(path)
        return bucket, 0

    base_bucket, _ = bucket_with("baseline", None)
    base = peak_rss_mib(a.bin, base_bucket, os.path.join(a.work, "baseline", "state"))
    print(f"baseline (2 ordinary files, no bomb): peak RSS {base['rss']:.1f} MiB, {base['s']:.2f} s")
    ok = True
    for case, what, counter, make in CASES:
        bucket, size = bucket_with(case, make)
        r = peak_rss_mib(a.bin, bucket, os.path.join(a.work, case, "state"))
        stored = "Ingested 2 files" in r["out"]
        failed = f"{counter} 1" in r["out"]
        good = r["rc"] == 0 and stored and failed and r["rss"] < 200
        ok &= good
        results.append({"case": case, "what": what, "compressed_bytes": size, "expected": counter,
                        "peak_rss_mib": round(r["rss"], 1), "seconds": round(r["s"], 2),
                        "rss_vs_baseline": round(r["rss"] / base["rss"], 2), "ok": good})
        print(f"{case:11} {what:48} {size / 1e6:6.2f} MB gz  peak RSS {r['rss']:6.1f} MiB "
              f"({r['rss'] / base['rss']:.2f}x baseline)  {r['s']:6.2f} s  {'ok' if good else 'FAILED: ' + r['out'] + r['err'][-500:]}")
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump({"baseline_rss_mib": round(base["rss"], 1), "cases": results}, f, indent=1)
    print("all bombs refused, the rest stored, peak RSS < 200 MB" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
