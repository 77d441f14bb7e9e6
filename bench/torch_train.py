#!/usr/bin/python3
"""PyTorch CPU peer of bench/train.ts: training and inference patterns/s of the same models.

Usage: torch_train.py CONFIG.json BATCH MIN_SECONDS

CONFIG.json is a model config.json (src/npcnn/config.ts); the nn.Sequential comes from
scripts/torch_model.py. Training: AdamW (lr 1e-4), cross-entropy, dropout on, random inputs of the
config's grid (speed does not depend on the values). Inference: eval mode, no_grad. Prints one
JSON line.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_model import build, prepare  # noqa: E402


def timed(fn, min_seconds):
    fn()  # warm-up
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 2:
            return elapsed / n


def main():
    config_path, batch, min_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    with open(config_path) as f:
        cfg = json.load(f)
    model = build(cfg)
    classes = len(cfg["classes"])
    x = prepare(cfg, torch.rand(batch, cfg["input"]["points"]))
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    model.train()
    train_s = timed(step, min_seconds)
    model.eval()

    def infer():
        with torch.no_grad():
            model(x)

    infer_s = timed(infer, min_seconds)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_patterns_per_s": batch / train_s,
        "infer_patterns_per_s": batch / infer_s,
    }))


if __name__ == "__main__":
    main()
