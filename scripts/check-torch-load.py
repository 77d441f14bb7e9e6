#!/usr/bin/python3
"""Checks that PyTorch reads a checkpoint written by the engine (src/engine/checkpoint.ts).

Usage: check-torch-load.py CHECKPOINT_DIR EXPECTED_JSON

The safetensors file is parsed here with struct/json (the safetensors Python package is not
needed) and each tensor built with torch.frombuffer. EXPECTED_JSON holds
  {"tensors": {name: [flat values]}, "input": [...], "output": [...]}
where output is what the engine computed for input with the model that config.json describes:
Conv1d(cin, cout, k, stride) -> ReLU -> flatten -> Linear(cout * lout, classes), parameters
named conv.weight, conv.bias, fc.weight, fc.bias. The script compares the values, loads them into
that torch.nn.Module with load_state_dict(strict=True), runs the same forward, and prints one JSON
line; the exit status is 0 when everything matches.
"""
import json
import struct
import sys

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']} (expected F32)")
        begin, end = info["data_offsets"]
        buf = bytearray(data[base + begin : base + end])
        t = torch.frombuffer(buf, dtype=torch.float32) if buf else torch.empty(0)
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


class Model(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.conv = torch.nn.Conv1d(cfg["cin"], cfg["cout"], cfg["kernel"], stride=cfg["stride"])
        lout = (cfg["length"] - cfg["kernel"]) // cfg["stride"] + 1
        self.fc = torch.nn.Linear(cfg["cout"] * lout, cfg["classes"])

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def main():
    ckpt, expected_path = sys.argv[1], sys.argv[2]
    with open(f"{ckpt}/config.json") as f:
        cfg = json.load(f)
    with open(expected_path) as f:
        expected = json.load(f)
    tensors, metadata = read_safetensors(f"{ckpt}/weights.safetensors")
    value_diff = 0.0
    for name, values in expected["tensors"].items():
        value_diff = max(value_diff, (tensors[name].flatten() - torch.tensor(values)).abs().max().item())
    model = Model(cfg)
    model.load_state_dict(tensors, strict=True)
    x = torch.tensor(expected["input"], dtype=torch.float32).reshape(-1, cfg["cin"], cfg["length"])
    with torch.no_grad():
        y = model(x).flatten()
    ours = torch.tensor(expected["output"])
    forward_diff = (y - ours).abs().max().item()
    scale = ours.abs().max().item()
    ok = value_diff == 0.0 and forward_diff <= 1e-4 * max(1.0, scale)
    print(json.dumps({
        "ok": ok,
        "torch": torch.__version__,
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        "metadata": metadata,
        "max_abs_value_diff": value_diff,
        "max_abs_forward_diff": forward_diff,
        "output_scale": scale,
    }))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
