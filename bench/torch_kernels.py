#!/usr/bin/python3
"""PyTorch CPU peer for bench/kernels.ts: times the same ops at the same shapes.

Reads a JSON list of {"op", "shape"} rows on stdin and prints one JSON object:
{"torch": version, "threads": n, "rows": [{"op", "shape", "seconds"}]} (seconds per call, median).
"""
import json
import os
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the caller prints our numbers alone
    print(json.dumps({"error": f"PyTorch is not importable: {e}"}))
    sys.exit(0)

torch.manual_seed(0)
# Use every core, as our engine does through the software GPU (this build defaults to one thread).
torch.set_num_threads(os.cpu_count() or 1)


def timed(fn, min_time=0.6, max_iter=50):
    fn()  # warm-up
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < 3 or (time.perf_counter() < t_end and len(times) < max_iter):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def conv_case(op, s):
    n, cin, length, cout, k, stride = s["n"], s["cin"], s["l"], s["cout"], s["k"], s["stride"]
    x = torch.randn(n, cin, length)
    w = torch.randn(cout, cin, k) * 0.05
    b = torch.randn(cout)
    y = F.conv1d(x, w, b, stride=stride)
    dy = torch.randn_like(y)
    if op == "conv1d.forward":
        return lambda: F.conv1d(x, w, b, stride=stride)
    if op == "conv1d.backward_input":
        return lambda: torch.nn.grad.conv1d_input(x.shape, w, dy, stride=stride)
    if op == "conv1d.backward_weight":
        return lambda: torch.nn.grad.conv1d_weight(x, w.shape, dy, stride=stride)
    raise ValueError(op)


def dense_case(op, s):
    n, fin, fout = s["n"], s["in"], s["out"]
    x = torch.randn(n, fin)
    w = torch.randn(fout, fin) * 0.01
    b = torch.randn(fout)
    dy = torch.randn(n, fout)
    if op == "dense.forward":
        return lambda: F.linear(x, w, b)
    if op == "dense.backward_input":
        return lambda: dy @ w
    if op == "dense.backward_weight":
        return lambda: dy.t() @ x
    raise ValueError(op)


def main():
    rows = json.load(sys.stdin)
    out = []
    with torch.no_grad():
        for r in rows:
            make = conv_case if r["op"].startswith("conv1d") else dense_case
            out.append({"op": r["op"], "shape": r["shape"], "seconds": timed(make(r["op"], r["params"]))})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": out}))


main()
