#!/usr/bin/python3
"""Inference latency of the reference MLP in PyTorch's CPU build, the peer of `infer --quick`.

Usage: /usr/bin/python3 benchmarks/compare_inference.py [--threads 1|2] [--reps N]

Network 784-256-128-10 (ReLU, ReLU, softmax), float32, eval mode under torch.inference_mode(), input standardized
inside the timed call ((x - mean) / std, then the network) as `infer --quick` times `model.Predict` and `Predictor`
with a Standardizer. Batches of 1, 4, 16 and 10,000 examples of uniform random data. PyTorch (Debian's python3-torch)
runs with torch.set_num_threads(t) and OPENBLAS_NUM_THREADS=1 so it does not oversubscribe the cores. As `infer
--quick`: a warm-up of at least 300 ms, then calls timed in batches of about 50 ms, and the median over --reps batches.
Prints one line per batch size: `pytorch infer batch=M threads=T us_per_call=X best=Y`.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402
from torch import nn  # noqa: E402


def measure(call, reps):
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.3 or calls < 5:
        call()
        calls += 1
    per_batch = max(3, int(calls * 0.05 / (time.perf_counter() - start)))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(per_batch):
            call()
        times.append((time.perf_counter() - t) / per_batch * 1e6)
    times.sort()
    return times[reps // 2], times[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10),
                          nn.Softmax(dim=1)).eval()
    data = torch.rand(10000, 784, generator=torch.Generator().manual_seed(2))
    mean, std = data.mean(dim=0), data.std(dim=0, unbiased=False)
    with torch.inference_mode():
        for m in (1, 4, 16, 10000):
            x = data[:m].clone()
            median, best = measure(lambda: model((x - mean) / std), args.reps)
            print(f"pytorch infer batch={m} threads={args.threads} us_per_call={median:.2f} best={best:.2f}", flush=True)


if __name__ == "__main__":
    main()
