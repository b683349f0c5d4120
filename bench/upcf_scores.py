#!/usr/bin/env python3
"""UP-CF@r scores (bench/nextbasket_ref.py) of the products new to each customer of
evaluate()'s seeded sample, for bench/complements_grid.sql's -v ext: the parameters given
(--params "{'r': 10, 'alpha': 0.75, 'q': 5, 'k': 100}") or the small grid's best on "new" at
SPLIT; the best 300 a customer, divided by the customer's best; CSV customer_id,product_id,score
on stdout (COPY ... FROM it: the server reads the file).  PSQL as for nextbasket_ref.py.

  /usr/bin/python3 bench/upcf_scores.py DB SPLIT [--days 28] [--params ...] > scores.csv
"""
import argparse
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import nextbasket_ref as nr
ap = argparse.ArgumentParser()
ap.add_argument("db"); ap.add_argument("split"); ap.add_argument("--days", type=int, default=28)
ap.add_argument("--params")
a = ap.parse_args()
d = nr.Data(a.db)
sp = nr.Split(d, a.split, a.days, 2000, 42)
if a.params:
    import ast
    p = ast.literal_eval(a.params)
else:
    res = nr.run_upcf(sp, nr.UPCF_GRID_SMALL)
    p, ev = max(res, key=lambda pr: pr[1]["new"][1])
    print("chosen %s new ndcg %.4f" % (p, ev["new"][1]), file=sys.stderr)
up = nr.upcf_popularity(sp, p["r"])
s = nr.upcf_scores(sp, up, p["alpha"], p["q"], p["k"])
ev = nr.evaluate(sp, s)
print("upcf alone new %.4f (%d)" % (ev["new"][1], ev["new"][0]), file=sys.stderr)
s[sp.binary[sp.eval_rows] > 0] = -np.inf
out = sys.stdout
for e, (cu, ra, rn) in enumerate(sp.eval):
    if not rn:
        continue
    row = s[e]
    top = np.argsort(-row, kind="stable")[:300]
    best = row[top[0]]
    if not np.isfinite(best) or best <= 0:
        continue
    for j in top:
        if row[j] > 0 and np.isfinite(row[j]):
            out.write("%d,%d,%.6g\n" % (cu, int(d.products[j]), row[j] / best))
