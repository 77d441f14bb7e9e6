#!/usr/bin/python3
"""Peer timing for bench/sim.ts: pymatgen's XRDCalculator on the same structures.

Usage: /usr/bin/python3 bench/pymatgen_sim.py CIF_DIR [--seconds S] [--wavelength A]
       [--range MIN,MAX] [--step DEG]

Reads every *.cif in CIF_DIR (parsing is not timed), then times, over the structures in turn
until all were done once or 2*S seconds passed (at least S seconds and 8 patterns):
  - get_pattern alone (peak positions and intensities, 0-100 scale), and
  - get_pattern plus a NumPy rendering of the peaks to the same grid as ours (Gaussian peaks with a
    Caglioti width, normalised to a maximum of 1, plus uniform noise), so both sides produce a
    pattern array.
Prints one JSON object on stdout.
"""
import glob
import json
import os
import sys
import time
import warnings


def main() -> int:
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    cif_dir = args[0]
    opts = {"--seconds": "5", "--wavelength": "1.5418", "--range": "5,90", "--step": "0.01"}
    i = 1
    while i < len(args):
        if args[i] not in opts or i + 1 >= len(args):
            print(f"pymatgen_sim.py: unknown or incomplete option {args[i]}", file=sys.stderr)
            return 2
        opts[args[i]] = args[i + 1]
        i += 2
    try:
        import numpy as np
        from pymatgen.analysis.diffraction.xrd import XRDCalculator
        from pymatgen.io.cif import CifParser
        from importlib.metadata import version
    except ImportError as e:
        print(json.dumps({"available": False, "reason": f"{e}; install Debian python3-pymatgen"}))
        return 0

    seconds = float(opts["--seconds"])
    wavelength = float(opts["--wavelength"])
    lo, hi = (float(v) for v in opts["--range"].split(","))
    step = float(opts["--step"])
    points = int(round((hi - lo) / step))
    grid = lo + step * np.arange(points)

    warnings.filterwarnings("ignore")
    files = sorted(glob.glob(os.path.join(cif_dir, "*.cif")))
    structures = []
    t0 = time.perf_counter()
    for f in files:
        structures.append(CifParser(f).get_structures(primitive=False)[0])
    parse_s = time.perf_counter() - t0
    if not structures:
        print(json.dumps({"available": False, "reason": f"no CIF files in {cif_dir}"}))
        return 0

    calc = XRDCalculator(wavelength=wavelength)
    rng = np.random.default_rng(0)
    u, v, w = 0.05, -0.06, 0.07  # one of the paper's Caglioti settings

    def render(pattern):
        x = np.asarray(pattern.x)
        y = np.asarray(pattern.y)
        tan = np.tan(np.radians(x / 2))
        fwhm = np.sqrt(np.maximum(u * tan * tan + v * tan + w, 1e-6))
        sigma = fwhm / 2.354820045
        # Peaks x grid; exact Gaussians over the whole grid (what a simple NumPy renderer does).
        out = (y[:, None] * np.exp(-0.5 * ((grid[None, :] - x[:, None]) / sigma[:, None]) ** 2)).sum(0)
        out /= max(out.max(), 1e-30)
        out += rng.uniform(0, 0.01, points)
        return (out / out.max()).astype(np.float32)

    def timed(fn):
        n = 0
        peaks = 0
        start = time.perf_counter()
        while True:
            for s in structures:
                peaks += fn(s)
                n += 1
                elapsed = time.perf_counter() - start
                # At least 8 patterns, and every structure once when that fits in the time.
                if elapsed >= seconds and (n >= len(structures) or elapsed >= 2 * seconds) and n >= 8:
                    return n, elapsed, peaks

    def pattern_only(s):
        return len(calc.get_pattern(s, scaled=True, two_theta_range=(lo, hi)).x)

    def pattern_and_render(s):
        p = calc.get_pattern(s, scaled=True, two_theta_range=(lo, hi))
        render(p)
        return len(p.x)

    n1, t1, k1 = timed(pattern_only)
    n2, t2, _ = timed(pattern_and_render)
    print(
        json.dumps(
            {
                "available": True,
                "pymatgen": version("pymatgen"),
                "numpy": np.__version__,
                "structures": len(structures),
                "points": points,
                "parse_seconds": parse_s,
                "get_pattern": {"patterns": n1, "seconds": t1, "patterns_per_s": n1 / t1, "mean_peaks": k1 / n1},
                "get_pattern_render": {"patterns": n2, "seconds": t2, "patterns_per_s": n2 / t2},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
