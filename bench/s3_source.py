#!/usr/bin/env python3
"""The S3/SQS source's throughput on one host against moto (S3 and SQS on one local endpoint).

Usage: bench/s3_source.py [--accounts N] [--regions R1,R2] [--hours H] [--rate EVENTS_PER_MIN] [--bin PATH] [--work DIR]

Writes a simulated organization (`trailwatch simulate`), starts `python3 -m moto.server`, makes a
bucket whose ObjectCreated notifications go to an SQS queue, uploads the corpus (not timed), then
times `trailwatch run --logs s3://…` from its start until every log file is in the ledger and the
queue is empty. Baselines in the same run: `gzip -dc` over the same files, and the same binary
taking them from a local mirror (`run --once`). Reports files/s and
events/s and the ratio to gzip. moto is the bottleneck it measures as much as trailwatch: it is
a single-threaded Python server on the same 2 cores, so AWS itself would be faster.
"""
import argparse, glob, gzip, json, os, shutil, socket, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def store_sum(state, sql):
    """One figure summed over every account's store (read-only; a store being created counts 0)."""
    n = 0
    for db in glob.glob(os.path.join(state, "groups", "*.sqlite")):
        try:
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            n += c.execute(sql).fetchone()[0]
            c.close()
        except sqlite3.Error:
            pass
    return n


def ledger_done(state):
    return store_sum(state, "SELECT count(*) FROM ledger WHERE status = 'done'")


def forwarded(state):
    """Events forwarded to CloudWatch Logs so far (the forward checkpoints' counts)."""
    return store_sum(state, "SELECT coalesce(sum(forwarded), 0) FROM forward")


def stored(state):
    """Events stored (duplicates left out): what the forwarder has to send."""
    return store_sum(state, "SELECT coalesce(sum(events), 0) FROM streams")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=10)
    ap.add_argument("--regions", default="us-east-1,eu-west-1")
    ap.add_argument("--hours", type=float, default=2)
    ap.add_argument("--rate", type=float, default=60)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "trailwatch"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--store", choices=["local", "cloudwatch"], default="local",
                    help="cloudwatch: also forward to moto's CloudWatch Logs and time until every event is there")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tw-s3bench-")
    local = os.path.join(work, "trail-bench")
    shutil.rmtree(local, ignore_errors=True)
    subprocess.run([a.bin, "simulate", "--out", local, "--accounts", str(a.accounts), "--regions", a.regions, "--hours", str(a.hours),
                    "--rate", str(a.rate), "--no-digests"], check=True, stdout=subprocess.DEVNULL)
    files = sorted(p for p in glob.glob(os.path.join(local, "**", "*.json.gz"), recursive=True) if "/CloudTrail/" in p)
    events = sum(len(json.load(gzip.open(p))["Records"]) for p in files)
    size = sum(os.path.getsize(p) for p in files)

    # Baseline: gzip -dc over the same files (one process, as many arguments as fit).
    t = time.perf_counter()
    subprocess.run(["xargs", "-0", "gzip", "-dc"], input=b"\0".join(p.encode() for p in files), stdout=subprocess.DEVNULL, check=True)
    gzip_s = time.perf_counter() - t

    # Second baseline: the same binary taking the same files from a local mirror (`run --once`),
    # so the source's own cost (SQS, GetObject, settle) shows apart from ingest's.
    mirror_state = os.path.join(work, "mirror-state")
    shutil.rmtree(mirror_state, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([a.bin, "run", "--once", "--logs", local, "--state", mirror_state, "--log-to", "stderr"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mirror_s = time.perf_counter() - t

    port = free_port()
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update(env)
        import boto3
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket="trail-bench")
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket="trail-bench", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        for p in files:
            s3.upload_file(p, "trail-bench", "org/" + os.path.relpath(p, local))

        def queued():
            at = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return int(at["ApproximateNumberOfMessages"]) + int(at["ApproximateNumberOfMessagesNotVisible"])

        state = os.path.join(work, "state")
        shutil.rmtree(state, ignore_errors=True)
        log = open(os.path.join(work, "trailwatch.log"), "w")
        t = time.perf_counter()
        daemon = subprocess.Popen([a.bin, "run", "--logs", "s3://trail-bench/org", "--sqs-queue", url, "--state", state,
                                   "--log-to", "stderr", "--reconcile-interval", "3600", "--store", a.store], env=env, stdout=log, stderr=log)
        while ledger_done(state) < len(files) or queued() > 0 or (a.store == "cloudwatch" and forwarded(state) < stored(state)):
            if daemon.poll() is not None:
                sys.exit(f"trailwatch exited {daemon.returncode}; see {log.name}")
            time.sleep(0.1)
        source_s = time.perf_counter() - t
    finally:
        if daemon and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(30)
        moto.terminate()
        moto.wait(30)
    print(f"corpus: {len(files)} files, {events} events, {size / 1e6:.1f} MB compressed ({a.accounts} accounts, {a.regions}, {a.hours} h)")
    print(f"gzip -dc:              {gzip_s:7.2f} s  {len(files) / gzip_s:8.0f} files/s  {events / gzip_s:9.0f} events/s")
    print(f"local mirror --once:   {mirror_s:7.2f} s  {len(files) / mirror_s:8.0f} files/s  {events / mirror_s:9.0f} events/s"
          f"  ({mirror_s / gzip_s:.1f}x gzip -dc's time)")
    what = "s3 source" if a.store == "local" else "s3 -> cloudwatch"
    print(f"trailwatch {what:12s}{source_s:7.2f} s  {len(files) / source_s:8.0f} files/s  {events / source_s:9.0f} events/s"
          f"  ({source_s / gzip_s:.1f}x gzip -dc's time; until the ledger holds every file and the queue is empty"
          f"{' and every event is in CloudWatch Logs' if a.store == 'cloudwatch' else ''};"
          f" {source_s / mirror_s:.1f}x the local mirror's)")


if __name__ == "__main__":
    main()
