#!/usr/bin/env python3
"""implicit's batch recommend on seg_reco's own ALS model, for
bench/rankspeed.sh: the same factors, so the same model, scored by
implicit 0.7.2 (float32 sgemm in batches of 100 customers, then its
top-n selection, on --threads threads).

    PYTHONPATH=<built implicit> python3 bench/implicit_recommend.py \
        --customers FILE --products FILE [--threads 2] [--runs 5] [--n 10]
        [--lists OUT] [--warmup]

FILE: one "id<TAB>{f1,f2,...}" line per customer (product), the stored
float4[] factors of seg_reco.als_customer_factors (als_product_factors),
ordered by id.  Prints one JSON object: the median and every run of
recommend() for all customers at once (filter_already_liked_items off:
implicit then needs no user_items, and seg_reco's list with
include_purchased keeps re-buys too).  --lists writes implicit's top n as
"customer_id<TAB>rank<TAB>product_id<TAB>score" lines, to compare with
seg_reco's lists.  implicit is never in the repository:
bench/build_implicit.sh builds it from its source outside it.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's own threads do the work

import numpy as np  # noqa: E402


def read_factors(path):
    ids, rows = [], []
    with open(path) as f:
        for line in f:
            i, v = line.rstrip("\n").split("\t")
            ids.append(int(i))
            rows.append([float(x) for x in v.strip("{}").split(",")])
    return np.array(ids, dtype=np.int64), np.array(rows, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", required=True)
    ap.add_argument("--products", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--lists")
    ap.add_argument("--warmup", action="store_true", help="one untimed call first")
    a = ap.parse_args()

    import implicit
    from implicit.cpu.als import AlternatingLeastSquares

    cid, cf = read_factors(a.customers)
    pid, pf = read_factors(a.products)
    m = AlternatingLeastSquares(factors=cf.shape[1], num_threads=a.threads)
    m.user_factors = cf
    m.item_factors = pf
    if a.warmup:
        m.recommend(np.arange(len(cid)), None, N=a.n, filter_already_liked_items=False)
    runs, cpu = [], []
    for _ in range(a.runs):
        t, c = time.perf_counter(), time.process_time()
        ids, scores = m.recommend(np.arange(len(cid)), None, N=a.n, filter_already_liked_items=False)
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if a.lists:
        with open(a.lists, "w") as f:
            for u in range(len(cid)):
                for r in range(ids.shape[1]):
                    f.write("%d\t%d\t%d\t%.9g\n" % (cid[u], r + 1, pid[ids[u, r]], scores[u, r]))
    json.dump({"implicit": implicit.__version__, "customers": len(cid), "products": len(pid),
               "factors": cf.shape[1], "threads": a.threads,
               "recommend_seconds": round(statistics.median(runs), 4),
               "recommend_runs": [round(x, 4) for x in runs],
               "recommend_cpu_seconds": round(statistics.median(cpu), 4)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
