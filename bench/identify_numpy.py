"""NumPy peer of the search-match screen (bench/identify.ts): for every query and library entry,
the best cross-correlation over shifts -S..S of the ln d profiles, as one matrix product per shift.
Reads queries.npy [nq, bins] and library.npy [nl, bins]; prints seconds per query and the scores'
checksum so both sides can be compared."""
import json, os, sys, time
import numpy as np

d, S, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = np.load(os.path.join(d, "queries.npy"))
lib = np.load(os.path.join(d, "library.npy"))
bins = q.shape[1]


def screen():
    best = np.full((q.shape[0], lib.shape[0]), -np.inf, dtype=np.float32)
    for s in range(-S, S + 1):
        t0, t1 = max(0, -s), min(bins, bins - s)
        # sum_t q[t + s] L[t]
        best = np.maximum(best, q[:, t0 + s:t1 + s] @ lib[:, t0:t1].T)
    return best


best = screen()
t = time.perf_counter()
for _ in range(reps):
    screen()
sec = (time.perf_counter() - t) / reps
print(json.dumps({"seconds_per_query": sec / q.shape[0], "checksum": float(best.sum()), "threads": os.environ.get("OMP_NUM_THREADS", "default")}))
