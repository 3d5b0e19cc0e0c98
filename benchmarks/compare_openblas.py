#!/usr/bin/python3
"""Our GEMM vs numpy/OpenBLAS on the quick-mode cases, measured in the same run.

Usage: /usr/bin/python3 benchmarks/compare_openblas.py [--rounds N] [--threads 1|2] [--cpu]

Runs the C# quick mode (`gemm --quick`) and the same cases through numpy (Debian's python3-numpy with
libopenblas0-pthread), alternating the two for several rounds and keeping the best figure of each, then
prints ours/OpenBLAS per case. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set on some machines for old
OpenBLAS builds) are removed for this process only, and the kernel OpenBLAS picks is printed.
"""
import argparse
import os
import re
import subprocess
import sys
import time

if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
except ImportError:  # pragma: no cover
    threadpool_info = None
    threadpool_limits = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.path.join(ROOT, "benchmarks", "DeepLearning.Benchmarks")
DLL = os.path.join(PROJECT, "bin", "Release", "net10.0", "DeepLearning.Benchmarks.dll")
LINE = re.compile(r"^gemm (float|double) ((?:NN|NT|TN|TT)p?) m=(\d+) n=(\d+) k=(\d+) threads=(\d+) gflops=([\d.]+)$")


CPU = False


def clock():
    return time.process_time() if CPU else time.perf_counter()


def ours(threads):
    cmd = ["dotnet", DLL, "gemm", "--quick", "--reps", "5"] + (["--cpu"] if CPU else [])
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if m:
            key = (m[1], m[2], int(m[3]), int(m[4]), int(m[5]), int(m[6]))
            result[key] = float(m[7])
    return result


def numpy_case(dtype, op, m, n, k, threads, reps=5):
    rng = np.random.default_rng(7)
    dt = np.float32 if dtype == "float" else np.float64
    a = (rng.random((k, m) if op[0] == "T" else (m, k)) - 0.5).astype(dt)
    b = (rng.random((n, k) if op[1] == "T" else (k, n)) - 0.5).astype(dt)
    opa = a.T if op[0] == "T" else a
    opb = b.T if op[1] == "T" else b
    c = np.empty((m, n), dtype=dt)
    flops = 2.0 * m * n * k
    with threadpool_limits(limits=threads, user_api="blas") if threadpool_limits else _null():
        start = time.perf_counter()
        calls = 0
        while time.perf_counter() - start < 0.06 or calls < 3:
            np.matmul(opa, opb, out=c)
            calls += 1
        batch = max(1, int(calls * 0.04 / (time.perf_counter() - start)))
        best = 0.0
        for _ in range(reps):
            t0 = clock()
            for _ in range(batch):
                np.matmul(opa, opb, out=c)
            seconds = clock() - t0
            if CPU:
                seconds /= threads
            best = max(best, flops * batch / max(seconds, 1e-9) / 1e9)
    return best


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--cpu", action="store_true",
                        help="divide by CPU time per thread instead of wall time (for an overloaded machine)")
    args = parser.parse_args()
    global CPU
    CPU = args.cpu
    if not os.path.exists(DLL):
        subprocess.run(["dotnet", "build", "-c", "Release", PROJECT], check=True, capture_output=True)

    if threadpool_info:
        for lib in threadpool_info():
            if lib.get("internal_api") == "openblas":
                print(f"# OpenBLAS {lib.get('version')} kernel={lib.get('architecture')} "
                      f"threading={lib.get('threading_layer')} max_threads={lib.get('num_threads')}")
    print(f"# numpy {np.__version__}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")

    best_ours, best_blas = {}, {}
    for r in range(args.rounds):
        for key, g in ours(args.threads).items():
            best_ours[key] = max(best_ours.get(key, 0.0), g)
        for key in best_ours:
            g = numpy_case(*key[:5], threads=key[5])
            best_blas[key] = max(best_blas.get(key, 0.0), g)
        print(f"# round {r + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}", flush=True)

    print(f"{'case':<44} {'ours':>8} {'openblas':>9} {'ratio':>6}")
    for key in best_ours:
        dtype, op, m, n, k, t = key
        name = f"{dtype} {op} m={m} n={n} k={k} threads={t}"
        o, b = best_ours[key], best_blas[key]
        print(f"{name:<44} {o:8.1f} {b:9.1f} {o / b:6.2f}")


if __name__ == "__main__":
    main()
