#!/usr/bin/env python3
"""The implicit library's ALS on the same interactions as seg_reco, for the
benchmarks (bench/als.sh, bench/scale.sh): fit time and batch top-n time.

    PYTHONPATH=<built implicit> python3 bench/implicit_ref.py --pairs FILE
        [--factors 64] [--iterations 15] [--regularization 0.01] [--alpha 1]
        [--threads 1] [--runs 3] [--n 10]

FILE holds one "customer_id<TAB>product_id<TAB>r" line per pair, r being the
summed weight seg_reco's als_train gives the pair (confidence 1 + alpha * r
in both libraries).  implicit is not a dependency of seg_reco and is never
in the repository: bench/build_implicit.sh builds it from a source checkout
outside it.  Prints one JSON object: medians (and every run) of the fit and
of recommend() for all customers at once, with filter_already_liked_items
off as seg_reco's recommendations view includes re-buys.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's own threads do the work

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=10)
    a = ap.parse_args()

    import implicit
    from implicit.cpu.als import AlternatingLeastSquares

    t0 = time.perf_counter()
    data = np.loadtxt(a.pairs, delimiter="\t", dtype=np.float64, ndmin=2)
    cust, cinv = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
    prod, pinv = np.unique(data[:, 1].astype(np.int64), return_inverse=True)
    ui = sp.csr_matrix((data[:, 2].astype(np.float32), (cinv, pinv)),
                       shape=(len(cust), len(prod)))
    load = time.perf_counter() - t0

    fits, recs = [], []
    for r in range(a.runs):
        m = AlternatingLeastSquares(factors=a.factors, regularization=a.regularization,
                                    alpha=a.alpha, iterations=a.iterations, use_cg=True,
                                    calculate_training_loss=False, num_threads=a.threads,
                                    random_state=42 + r)
        t = time.perf_counter()
        m.fit(ui, show_progress=False)
        fits.append(time.perf_counter() - t)
        t = time.perf_counter()
        ids, _ = m.recommend(np.arange(ui.shape[0]), ui, N=a.n,
                             filter_already_liked_items=False)
        recs.append(time.perf_counter() - t)
        assert ids.shape == (ui.shape[0], min(a.n, ui.shape[1]))
    json.dump({"implicit": implicit.__version__, "customers": ui.shape[0], "products": ui.shape[1],
               "pairs": ui.nnz, "threads": a.threads, "load_seconds": round(load, 3),
               "fit_seconds": round(statistics.median(fits), 3), "fit_runs": [round(x, 3) for x in fits],
               "recommend_seconds": round(statistics.median(recs), 3),
               "recommend_runs": [round(x, 3) for x in recs]}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
