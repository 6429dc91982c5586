#!/usr/bin/env python3
"""Issue 9: libdeflate whole-buffer inflate against zlib streaming, in one run.

Usage: bench/inflate.py [--work DIR] [--rate EVENTS_PER_MIN] [--hours H] [--rounds N] [--before BIN]

Over the simulated corpus (as bench/bench.py makes it), measures in the same run:
  - `gzip -dc` over the corpus files (the baseline bench.py's throughput ratio uses);
  - `trailwatch run --once` with TRAILWATCH_INFLATE=zlib (every file streamed through zlib, as
    before issue 9) and with the default decoder (libdeflate whole-buffer inflate for
    single-member files claiming at most 64 MiB, zlib streaming for the rest);
and with --before, a binary built from the commit before (no libdeflate at all); alternating the
trailwatch runs --rounds times (fresh state each) and keeping the best wall
time and the best CPU time (user+sys, wait4) of each. Also counts the files the whole-buffer path
takes, from their trailers. Needs a release build (`swift build -c release --product trailwatch`).
Figures are ratios within the run: these machines are shared.
"""
import argparse, json, os, shutil, struct, subprocess, sys, time, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release", "trailwatch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import files_under  # noqa: E402

WHOLE_LIMIT = 64 << 20  # DecodeLimits.wholeBytes


def timed(cmd, env=None):
    """Wall seconds and CPU seconds (user+sys) of the child, via wait4."""
    t = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, env or os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    dt = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status})")
    return dt, usage.ru_utime + usage.ru_stime


def gzip_dc(files):
    """`gzip -dc` over the files (xargs batches the list): wall and CPU seconds of its children."""
    before = os.times()
    t = time.perf_counter()
    p = subprocess.Popen(["xargs", "-0", "gzip", "-dc"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    p.communicate("\0".join(files).encode())
    dt = time.perf_counter() - t
    after = os.times()
    return dt, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def whole_eligible(path):
    """True when the decoder inflates this file whole: one member, trailer claim 1..64 MiB."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 20 or data[:2] != b"\x1f\x8b":
        return False
    claim = struct.unpack("<I", data[-4:])[0]
    d = zlib.decompressobj(16 + 15)
    out = d.decompress(data)
    return 0 < claim <= WHOLE_LIMIT and len(out) == claim and not d.unused_data


def inflate_alone(files, rounds):
    """The libraries alone over the corpus in memory, best of `rounds`: zlib (Python's binding,
    256 KiB output pieces as the Inflater gives) and libdeflate whole-buffer (ctypes)."""
    import ctypes
    lib = ctypes.CDLL("libdeflate.so.0")
    lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
    lib.libdeflate_gzip_decompress.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                               ctypes.c_size_t, ctypes.c_void_p]
    dec = lib.libdeflate_alloc_decompressor()
    blobs = []
    for f in files:
        with open(f, "rb") as fh:
            blobs.append(fh.read())
    zl, ld = [], []
    for _ in range(rounds):
        t = time.process_time()
        for b in blobs:
            d = zlib.decompressobj(16 + 15)
            buf = b
            while buf:
                d.decompress(buf, 256 * 1024)
                buf = d.unconsumed_tail
        zl.append(time.process_time() - t)
        t = time.process_time()
        for b in blobs:
            n = struct.unpack("<I", b[-4:])[0]
            out = ctypes.create_string_buffer(max(n, 1))
            if lib.libdeflate_gzip_decompress(dec, b, len(b), out, n, None) != 0:
                raise SystemExit("libdeflate failed")
        ld.append(time.process_time() - t)
    return min(zl), min(ld)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/trailwatch-inflate-bench")
    ap.add_argument("--rate", type=float, default=120, help="events/min per account-region (120 -> ~1.04M events)")
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", help="also time this trailwatch binary (a release build of the commit before issue 9)")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["swift", "build", "-c", "release", "--product", "trailwatch"], cwd=ROOT, check=True)
    os.makedirs(a.work, exist_ok=True)
    bucket = os.path.join(a.work, "bench-bucket")
    if not os.path.isdir(os.path.join(bucket, "AWSLogs")):
        subprocess.run([BIN, "simulate", "--out", bucket, "--accounts", "3", "--regions", "us-east-1,eu-west-1",
                        "--hours", str(a.hours), "--rate", str(a.rate), "--seed", "7"], stdout=subprocess.DEVNULL, check=True)
    files = files_under(bucket)
    sizes = [os.path.getsize(f) for f in files]
    eligible = sum(whole_eligible(f) for f in files)  # also warms the page cache
    print(f"corpus: {len(files)} files, {sum(sizes) / 1e6:.1f} MB gzip (largest {max(sizes) / 1e6:.2f} MB); "
          f"{eligible} of them inflated whole by the new decoder")

    zl, ld = inflate_alone(files, a.rounds)
    print(f"inflate alone (CPU, best of {a.rounds}): zlib streaming {zl:.2f} s, libdeflate whole {ld:.2f} s -> {zl / ld:.2f}x")

    gz_wall, gz_cpu = [], []
    runs = {"zlib": ([], []), "libdeflate": ([], [])}
    if a.before:
        runs["before"] = ([], [])
    for r in range(a.rounds):
        w, c = gzip_dc(files)
        gz_wall.append(w)
        gz_cpu.append(c)
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            state = os.path.join(a.work, "state-" + name)
            shutil.rmtree(state, ignore_errors=True)
            env = dict(os.environ)
            env.pop("TRAILWATCH_INFLATE", None)
            if name == "zlib":
                env["TRAILWATCH_INFLATE"] = "zlib"
            w, c = timed([a.before if name == "before" else BIN, "run", "--once", "--logs", bucket, "--state", state], env)
            runs[name][0].append(w)
            runs[name][1].append(c)
        print(f"round {r + 1}: gzip -dc {gz_wall[-1]:.2f} s wall {gz_cpu[-1]:.2f} s cpu; "
              + "; ".join(f"{n} {runs[n][0][-1]:.2f} s wall {runs[n][1][-1]:.2f} s cpu" for n in runs))

    g = min(gz_wall)
    res = {"files": len(files), "whole_eligible": eligible, "rounds": a.rounds,
           "gzip_dc_wall_s": round(g, 2), "gzip_dc_cpu_s": round(min(gz_cpu), 2),
           "inflate_alone_zlib_cpu_s": round(zl, 2), "inflate_alone_libdeflate_cpu_s": round(ld, 2),
           "inflate_alone_speedup": round(zl / ld, 2)}
    for n, (wall, cpu) in runs.items():
        res[f"{n}_wall_s"] = round(min(wall), 2)
        res[f"{n}_cpu_s"] = round(min(cpu), 2)
        res[f"{n}_ratio_vs_gzip"] = round(g / min(wall), 2)
    res["cpu_after_over_before"] = round(min(runs["libdeflate"][1]) / min(runs["zlib"][1]), 3)
    res["wall_after_over_before"] = round(min(runs["libdeflate"][0]) / min(runs["zlib"][0]), 3)
    print(f"run --once vs gzip -dc (best wall of {a.rounds}): zlib {res['zlib_ratio_vs_gzip']}x, "
          f"libdeflate {res['libdeflate_ratio_vs_gzip']}x" + (f", before binary {res['before_ratio_vs_gzip']}x" if a.before else ""))
    print(f"CPU user+sys (best of {a.rounds}, alternating): zlib {res['zlib_cpu_s']} s, libdeflate {res['libdeflate_cpu_s']} s "
          f"-> {res['cpu_after_over_before']}x; wall {res['wall_after_over_before']}x")
    if a.before:
        res["cpu_after_over_before_binary"] = round(min(runs["libdeflate"][1]) / min(runs["before"][1]), 3)
        print(f"against the before binary: CPU {res['before_cpu_s']} s -> {res['libdeflate_cpu_s']} s = "
              f"{res['cpu_after_over_before_binary']}x")
    with open(os.path.join(a.work, "inflate-results.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
