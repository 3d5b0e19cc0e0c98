#!/usr/bin/python3
"""Seconds per epoch of the reference MLP: ours vs PyTorch's CPU build, in the same run.

Usage: /usr/bin/python3 benchmarks/compare_training.py [--epochs N] [--threads 1|2] [--batch M] [--data DIR]
       [--net reference|dropout|batchnorm|tanh|sigmoid|l2|momentum|rmsprop] [--pytorch-only]

Network 784-256-128-10 (ReLU, ReLU, softmax + cross-entropy), Adam(lr=0.001), mini-batches of 64, float32,
one shuffled pass over Fashion-MNIST's 60,000 training images (Debian's dataset-fashion-mnist) per epoch.
PyTorch (Debian's python3-torch) runs with torch.set_num_threads(t) and OPENBLAS_NUM_THREADS=1 so it does
not oversubscribe the cores; ours runs `train --quick` of the benchmark project with the same thread count.
Both keep the best of N epochs after a warm-up. Prints both figures and ours/PyTorch (below 1 = we are faster).

--net picks a variant of the network on both sides:
  dropout    nn.Dropout(0.2) (keep 0.8) after each hidden ReLU
  batchnorm  bias-free Linear, BatchNorm1d, ReLU for each hidden layer
  tanh, sigmoid  the hidden activations
  l2         ours adds (λ/m)·W to the weights' dW, λ = 0.01 (and the L2 term to the cost it reports each step);
             PyTorch's Adam weight_decay = λ/m on the weights alone
  momentum   SGD with momentum 0.9: ours v = 0.9·v + 0.1·dW at lr 0.01, PyTorch's equal v = 0.9·v + g at lr 0.001
  rmsprop    RMSprop with β = alpha = 0.9, ε = 1e-8, lr 0.001

With --pytorch-only it prints PyTorch's line alone: `train --quick` runs it so as to print the peer beside its own
figures.
"""
import argparse
import gzip
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.path.join(ROOT, "benchmarks", "DeepLearning.Benchmarks")
DLL = os.path.join(PROJECT, "bin", "Release", "net10.0", "DeepLearning.Benchmarks.dll")
LINE = re.compile(r"^train (\S+) .* threads=(\d+) seconds_per_epoch=([\d.]+)")


def load(folder):
    def read(name):
        path = os.path.join(folder, name)
        opener = gzip.open if os.path.exists(path + ".gz") else open
        with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
            return f.read()

    images = np.frombuffer(read("train-images-idx3-ubyte"), dtype=np.uint8, offset=16).reshape(-1, 784)
    labels = np.frombuffer(read("train-labels-idx1-ubyte"), dtype=np.uint8, offset=8)
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


def random_data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g)


def network(net):
    nn = torch.nn
    if net == "dropout":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    if net == "batchnorm":
        return nn.Sequential(nn.Linear(784, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
                             nn.Linear(256, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    g = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}.get(net, nn.ReLU)
    return nn.Sequential(nn.Linear(784, 256), g(), nn.Linear(256, 128), g(), nn.Linear(128, 10))


def pytorch_seconds(x, y, threads, epochs, batch, net="reference"):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = network(net)
    model.train()
    if net == "momentum":
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    elif net == "rmsprop":
        opt = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-8)
    elif net == "l2":
        # Ours adds (λ/m)·W to the weights' gradients only (biases are not regularized).
        weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
        others = [p for name, p in model.named_parameters() if not name.endswith("weight")]
        opt = torch.optim.Adam([{"params": weights, "weight_decay": 0.01 / batch}, {"params": others}], lr=0.001)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(n):
        perm = torch.randperm(x.shape[0])[:n]
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()

    epoch(batch * 200)  # warm-up
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        epoch(x.shape[0])
        best = min(best, time.perf_counter() - start)
    return best


def ours_seconds(threads, epochs, folder, batch, net):
    cmd = ["dotnet", DLL, "train", "--quick", "--no-peer", "--threads", str(threads), "--epochs", str(epochs),
           "--batch", str(batch), "--data", folder, "--net", net]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if m:
            return float(m[3]), line.strip()
    sys.exit("no result line from the C# quick mode:\n" + out)


def blas_in_use():
    """The BLAS library torch's matmul loaded: 'openblas', 'reference' (Debian's netlib libblas3, ~10x slower), or
    'unknown'. Debian's torch links libblas.so.3, which is the reference one unless libopenblas0-pthread is installed."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    # numpy maps libopenblas.so.0 itself; torch's GEMMs go through whichever libblas.so.3 the alternatives chose.
    libblas = [os.path.realpath(p) for p in paths if "libblas.so" in p]
    if any("/blas/libblas" in p for p in libblas):
        return "reference"
    if any("openblas" in p for p in libblas):
        return "openblas"
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, choices=[1, 2], action="append")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--net", choices=["reference", "dropout", "batchnorm", "tanh", "sigmoid", "l2", "momentum", "rmsprop"],
                    default="reference")
    ap.add_argument("--pytorch-only", action="store_true")
    args = ap.parse_args()
    if blas_in_use() == "reference":
        print("pytorch_blas=reference")
        print("# PyTorch is running on the reference (netlib) BLAS: install libopenblas0-pthread, or its figures are "
              "several times slower than a real peer", file=sys.stderr)
    if args.pytorch_only:
        x, y = load(args.data) if os.path.isdir(args.data) else random_data()
        for threads in args.threads or [1, 2]:
            theirs = pytorch_seconds(x, y, threads, args.epochs, args.batch, args.net)
            print(f"pytorch threads={threads} seconds_per_epoch={theirs:.3f}")
        return
    subprocess.run(["dotnet", "build", PROJECT, "-c", "Release", "-v", "q", "-nologo"], check=True, capture_output=True)
    x, y = load(args.data)
    print(f"torch {torch.__version__}, {x.shape[0]} training images, batch {args.batch}, net {args.net}, float32")
    for threads in args.threads or [1, 2]:
        ours, line = ours_seconds(threads, args.epochs, args.data, args.batch, args.net)
        theirs = pytorch_seconds(x, y, threads, args.epochs, args.batch, args.net)
        print(line)
        print(f"pytorch threads={threads} seconds_per_epoch={theirs:.3f}")
        print(f"ratio threads={threads} ours/pytorch={ours / theirs:.2f}")


if __name__ == "__main__":
    main()
