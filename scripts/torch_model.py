#!/usr/bin/python3
"""PyTorch side of the model checks: builds the nn.Sequential that a model directory's config.json
describes (src/npcnn/config.ts), loads weights.safetensors with load_state_dict(strict=True), and
runs one forward and backward pass.

Usage: torch_model.py MODEL_DIR PATTERNS.npy LABELS.npy OUT.safetensors [train]

PATTERNS.npy: float32 [N, points], maximum 1 per pattern (the input transform of the config is
applied here, as our engine does). LABELS.npy: int32 [N]. Eval mode by default (dropout off,
BatchNorm on running statistics); with `train`, BatchNorm uses batch statistics and updates its
running ones (dropout stays off, so the two sides compute the same function). OUT.safetensors
holds "logits" [N, C], "loss" [1], "grad.<name>" for every parameter (the gradient of the mean
cross-entropy) and "buffer.<name>" for the running statistics after the pass.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']} (expected F32)")
        b, e = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[base + b : base + e]), dtype=torch.float32).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def build(cfg):
    layers = []
    for spec in cfg["layers"]:
        t = spec["type"]
        if t == "conv1d":
            layers.append(torch.nn.Conv1d(spec["in"], spec["out"], spec["kernel"], stride=spec["stride"]))
        elif t == "dense":
            layers.append(torch.nn.Linear(spec["in"], spec["out"]))
        elif t == "relu":
            layers.append(torch.nn.ReLU())
        elif t == "dropout":
            layers.append(torch.nn.Dropout(spec["p"]))
        elif t == "flatten":
            layers.append(torch.nn.Flatten())
        elif t == "batchnorm1d":
            layers.append(torch.nn.BatchNorm1d(spec["features"], eps=spec.get("eps", 1e-5), momentum=spec.get("momentum", 0.1)))
        elif t == "avgpool1d":
            layers.append(torch.nn.AvgPool1d(spec["kernel"], stride=spec["stride"]))
        else:
            raise ValueError(f"unknown layer type {t}")
    return torch.nn.Sequential(*layers)


def log_q_bins(inp):
    """Bin index of every grid point on the log-q axis (bins logQStep wide in ln Q from the first point)."""
    two_theta = inp["twoThetaMin"] + inp["step"] * np.arange(inp["points"])
    ln_q = np.log(4 * np.pi * np.sin(np.radians(two_theta / 2)) / inp["wavelength"])
    count = int(np.floor((ln_q[-1] - ln_q[0]) / inp["logQStep"]))
    return np.minimum(np.floor((ln_q - ln_q[0]) / inp["logQStep"]).astype(np.int64), count - 1), count


def prepare(cfg, x):
    inp = cfg["input"]
    if inp.get("axis", "two-theta") == "log-q":
        index, count = log_q_bins(inp)
        index = torch.from_numpy(index)
        sums = torch.zeros(x.shape[0], count, dtype=x.dtype).index_add_(1, index, x)
        x = sums / torch.bincount(index, minlength=count).to(x.dtype)
    if inp["transform"] == "log":
        eps = inp["logEpsilon"]
        x = torch.log1p(x.clamp(min=0) / eps) / math.log1p(1 / eps)
    return x.unsqueeze(1)


def main():
    model_dir, patterns_path, labels_path, out_path = sys.argv[1:5]
    train_mode = len(sys.argv) > 5 and sys.argv[5] == "train"
    torch.set_num_threads(os.cpu_count())
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    model = build(cfg)
    model.load_state_dict(read_safetensors(f"{model_dir}/weights.safetensors"), strict=True)
    model.eval()
    if train_mode:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.train()
    x = prepare(cfg, torch.from_numpy(np.load(patterns_path).astype(np.float32)))
    y = torch.from_numpy(np.load(labels_path).astype(np.int64))
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    out = {"logits": logits, "loss": loss.reshape(1)}
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad
    for name, b in model.named_buffers():
        out[f"buffer.{name}"] = b.to(torch.float32)
    write_safetensors(out_path, out)
    print(json.dumps({"torch": torch.__version__, "loss": loss.item(), "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
