# PyTorch CPU peer for bench/conv1d-probe.ts: times conv1d forward, dx and dW at the NPCNN shapes.
# Usage: /usr/bin/python3 bench/conv1d-torch.py [iters]  -> one JSON line per shape and pass.
import json, sys, time
import torch
import torch.nn.functional as F
from torch.nn.grad import conv1d_input, conv1d_weight

torch.set_num_threads(2)
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 3
shapes = [  # name, N, Cin, L, Cout, K, stride
    ("conv1", 64, 1, 8500, 80, 100, 5),
    ("conv2", 64, 80, 1681, 80, 50, 5),
    ("conv3", 64, 80, 327, 80, 25, 2),
]
for name, n, cin, l, cout, k, s in shapes:
    x = torch.randn(n, cin, l)
    w = torch.randn(cout, cin, k)
    b = torch.randn(cout)
    lout = (l - k) // s + 1
    dy = torch.randn(n, cout, lout)
    flop = 2.0 * n * cout * lout * cin * k
    passes = {
        "forward": lambda: F.conv1d(x, w, b, stride=s),
        "dx": lambda: conv1d_input(x.shape, w, dy, stride=s),
        "dW": lambda: conv1d_weight(x, w.shape, dy, stride=s),
    }
    with torch.no_grad():
        for p, fn in passes.items():
            fn()
            best = float("inf")
            for _ in range(iters):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            print(json.dumps({"shape": name, "pass": p, "ms": best * 1e3, "gflops": flop / best / 1e9}), flush=True)
