#!/usr/bin/env python3
"""Straightforward numpy reference implementations of two repeat-aware
next-basket recommenders, for bench/nextbasket.sh (side by side with
seg_reco.evaluate on the same protocol):

  TIFU-KNN  (Hu, Ge, Li, Ao, Zhang, Zhang: Modeling Personalized Item
            Frequency Information for Next-basket Recommendation, SIGIR 2020)
  UP-CF@r   (Faggioli, Polato, Aiolli: Recency Aware Collaborative Filtering
            for Next Basket Recommendation, UMAP 2020)

and two plain buy-again orderings (how many baskets held each product, then
the most recent).  Written from the papers' definitions, dense numpy, no
tricks: a reference, not a fast implementation.

The protocol is seg_reco.evaluate's: train on the purchases before the
split, the relevant products are those bought from the split on (test_days
days, or all later days); customers are a seeded sample (md5 order, as
evaluate) of those who bought in the window; mode "all" scores every
relevant product for customers with history, mode "new" only products the
customer had not bought before (what they bought is left out of the list).
A basket is one customer's purchase lines at one time (a receipt).

Reads the database through psql (PSQL, default "psql"; PGHOST/PGPORT/PGUSER
from the environment):

  nextbasket_ref.py DB SPLIT [--test-days N] [--tune-split DATE --tune-days N]
                    [--sample N] [--seed S] [--methods tifu,upcf,count]
                  [--grid full|small]

With --tune-split the parameter grid of each method is scored on that
validation window and the best (NDCG@10, per mode) is then scored on the
test window; the chosen parameters are printed.
"""
import argparse
import csv
import io
import itertools
import math
import os
import subprocess
import sys

import numpy as np

K = 10


def psql_rows(db, sql):
    cmd = os.environ.get("PSQL", "psql").split() + ["-X", "-q", "-d", db, "-c",
                                                      "COPY (%s) TO STDOUT WITH (FORMAT csv)" % sql]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return list(csv.reader(io.StringIO(out)))


class Data:
    """The lines of one database: (customer, product, epoch seconds)."""

    def __init__(self, db):
        self.db = db
        rows = psql_rows(db, "SELECT t.customer_id, t.product_id, extract(epoch FROM t.ts)::float8"
                             " FROM seg_reco.transactions t"
                             " WHERE t.customer_id IS NOT NULL AND t.amount > 0")
        a = np.array(rows, dtype=np.float64)
        self.cust = a[:, 0].astype(np.int64)
        self.prod = a[:, 1].astype(np.int64)
        self.ts = a[:, 2]
        self.products = np.unique(self.prod)
        self.pindex = {int(p): i for i, p in enumerate(self.products)}

    def epoch(self, day):
        return float(psql_rows(self.db, "SELECT extract(epoch FROM '%s'::date::timestamptz)::float8" % day)[0][0])

    def sample(self, split, test_days, n, seed):
        end = "'infinity'::timestamptz" if test_days is None else \
            "('%s'::date + %d)::timestamptz" % (split, test_days)
        rows = psql_rows(self.db,
                         "SELECT c.customer_id FROM (SELECT DISTINCT t.customer_id FROM seg_reco.transactions t"
                         " WHERE t.customer_id IS NOT NULL AND t.amount > 0 AND t.ts >= '%s'::date::timestamptz"
                         " AND t.ts < %s) c ORDER BY md5(c.customer_id::text || ':' || %d), c.customer_id"
                         " LIMIT %d" % (split, end, seed, n))
        return [int(r[0]) for r in rows]


class Split:
    """Baskets before the split per customer, and what was bought after."""

    def __init__(self, d, split, test_days, sample_n, seed):
        t0 = d.epoch(split)
        t1 = math.inf if test_days is None else t0 + test_days * 86400.0
        self.n_items = len(d.products)
        past = d.ts < t0
        order = np.lexsort((d.prod[past], d.ts[past], d.cust[past]))
        c, p, t = d.cust[past][order], d.prod[past][order], d.ts[past][order]
        self.baskets = {}          # customer -> list of item-index arrays, oldest first
        self.last_seen = {}        # customer -> {item: latest basket number}
        i = 0
        n = len(c)
        while i < n:
            j = i
            while j < n and c[j] == c[i]:
                j += 1
            bl = []
            s = i
            while s < j:
                e = s
                while e < j and t[e] == t[s]:
                    e += 1
                bl.append(np.unique([d.pindex[int(x)] for x in p[s:e]]))
                s = e
            self.baskets[int(c[i])] = bl
            i = j
        self.users = sorted(self.baskets)
        self.uindex = {u: k for k, u in enumerate(self.users)}
        fut = (d.ts >= t0) & (d.ts < t1)
        rel = {}
        for cu, pr in zip(d.cust[fut], d.prod[fut]):
            rel.setdefault(int(cu), set()).add(d.pindex[int(pr)])
        self.eval = []             # (customer, relevant all, relevant new) for warm sampled customers
        self.cold = 0
        for cu in d.sample(split, test_days, sample_n, seed):
            if cu not in self.baskets:
                self.cold += 1
                continue
            seen = set(np.concatenate(self.baskets[cu]).tolist())
            self.eval.append((cu, rel.get(cu, set()), rel.get(cu, set()) - seen))
        # binary user x item matrix of everything bought before the split
        self.binary = np.zeros((len(self.users), self.n_items), dtype=np.float32)
        for u, bl in self.baskets.items():
            self.binary[self.uindex[u], np.concatenate(bl)] = 1.0
        self.eval_rows = np.array([self.uindex[e[0]] for e in self.eval], dtype=np.int64)


def metrics(ranked, rel):
    """NDCG, precision, recall, AP, hit at K (binary relevance), as seg_reco's metrics.c."""
    hits = [i + 1 for i, x in enumerate(ranked[:K]) if x in rel]
    r = len(rel)
    dcg = sum(1.0 / math.log2(h + 1) for h in hits)
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(K, r) + 1))
    ap = sum((n + 1) / h for n, h in enumerate(hits)) / min(K, r)
    return (dcg / idcg, len(hits) / K, len(hits) / r, ap, 1.0 if hits else 0.0)


def evaluate(sp, scores):
    """scores: rows of the sampled customers (eval order) x items; ties by item index."""
    out = {}
    for mode in ("all", "new"):
        s = np.asarray(scores, dtype=np.float64).copy()
        if mode == "new":
            s[sp.binary[sp.eval_rows] > 0] = -np.inf
        top = np.argsort(-s, axis=1, kind="stable")[:, :K]
        acc = []
        for e, (cu, rel_all, rel_new) in enumerate(sp.eval):
            rel = rel_all if mode == "all" else rel_new
            if rel:
                acc.append(metrics([int(x) for x in top[e]], rel))
        out[mode] = (len(acc),) + tuple(float(np.mean([a[i] for a in acc])) for i in range(5))
    return out


# ------------------------------------------------------------------ TIFU-KNN
def tifu_user_vector(baskets, n_items, m, rb, rg):
    """The personal item frequency vector of TIFU-KNN: the baskets (oldest
    first) cut into groups of m consecutive baskets counted from the most
    recent one (the oldest group may be smaller); a group's vector is the
    mean of its baskets' binary vectors each weighted rb^(x - j) (j-th of x,
    the last weighs 1); the user's vector the mean of the group vectors each
    weighted rg^(G - g) (g-th of G groups, the most recent weighs 1)."""
    t = len(baskets)
    bounds = []
    end = t
    while end > 0:
        start = max(0, end - m)
        bounds.append((start, end))
        end = start
    bounds.reverse()
    g_n = len(bounds)
    v = np.zeros(n_items, dtype=np.float64)
    for g, (s, e) in enumerate(bounds):
        x = e - s
        gv = np.zeros(n_items, dtype=np.float64)
        for j in range(x):
            gv[baskets[s + j]] += rb ** (x - 1 - j)
        v += (rg ** (g_n - 1 - g)) * gv / x
    return v / g_n


def tifu_vectors(sp, m, rb, rg):
    x = np.zeros((len(sp.users), sp.n_items), dtype=np.float32)
    for u, bl in sp.baskets.items():
        x[sp.uindex[u]] = tifu_user_vector(bl, sp.n_items, m, rb, rg)
    return x


def tifu_neighbours(x, rows, kmax):
    """The kmax nearest customers (Euclidean distance, the customer left out) of each row."""
    sq = (x.astype(np.float64) ** 2).sum(axis=1)
    out = np.zeros((len(rows), kmax), dtype=np.int64)
    for a in range(0, len(rows), 256):
        r = rows[a:a + 256]
        d2 = sq[r][:, None] + sq[None, :] - 2.0 * (x[r].astype(np.float64) @ x.T.astype(np.float64))
        d2[np.arange(len(r)), r] = np.inf
        idx = np.argpartition(d2, kmax, axis=1)[:, :kmax]
        # by distance, then customer index: a total order
        for i in range(len(r)):
            o = np.lexsort((idx[i], d2[i, idx[i]]))
            out[a + i] = idx[i][o]
    return out


def tifu_scores(x, rows, nb, k, alpha):
    nbm = x[nb[:, :k]].mean(axis=1)
    return alpha * x[rows] + (1 - alpha) * nbm


# ------------------------------------------------------------------ UP-CF@r
def upcf_popularity(sp, r):
    """UP@r: the share of the customer's last r baskets (all when r = 0) that held each item."""
    up = np.zeros((len(sp.users), sp.n_items), dtype=np.float32)
    for u, bl in sp.baskets.items():
        last = bl if r == 0 else bl[-r:]
        v = np.zeros(sp.n_items, dtype=np.float64)
        for b in last:
            v[b] += 1.0
        up[sp.uindex[u]] = v / len(last)
    return up


def upcf_intersections(sp):
    """|I_u & I_v| of the sampled customers u with every customer v (once per split)."""
    if getattr(sp, "inter", None) is None:
        b = sp.binary
        sp.inter = b[sp.eval_rows].astype(np.float64) @ b.T.astype(np.float64)
    return sp.inter


def upcf_scores(sp, up, alpha, q, k):
    """sum over customers v of sim(u, v)^q UP@r(v, i), sim the asymmetric
    cosine |I_u & I_v| / (|I_u|^alpha |I_v|^(1 - alpha)) of the items ever
    bought (u itself included, sim 1); k > 0 keeps only the k most similar
    other customers (and u)."""
    b = sp.binary
    n = b.sum(axis=1).astype(np.float64)
    rows = sp.eval_rows
    inter = upcf_intersections(sp)
    sim = inter / (n[rows][:, None] ** alpha) / (n[None, :] ** (1 - alpha))
    sim = sim ** q
    if k > 0:
        sim[np.arange(len(rows)), rows] = np.inf
        keep = np.argpartition(-sim, k + 1, axis=1)[:, :k + 1]
        mask = np.zeros_like(sim, dtype=bool)
        mask[np.arange(len(rows))[:, None], keep] = True
        sim = np.where(mask, sim, 0.0)
        sim[np.arange(len(rows)), rows] = 1.0
    return sim @ up.astype(np.float64)


# ------------------------------------------------------------------ buy-again orderings
def count_scores(sp, recency_weighted=False):
    """Buy-again: how many baskets held each product, ties by the most recent."""
    s = np.zeros((len(sp.eval), sp.n_items), dtype=np.float64)
    for e, (cu, _, _) in enumerate(sp.eval):
        bl = sp.baskets[cu]
        t = len(bl)
        for j, b in enumerate(bl):
            s[e, b] += 1.0
        for j, b in enumerate(bl):
            s[e, b] = np.floor(s[e, b]) + (j + 1) / (t + 1.0)   # the last basket breaks ties
    return s


# ------------------------------------------------------------------ grids
TIFU_GRID = dict(m=[3, 7], rb=[0.9, 1.0], rg=[0.6, 0.8, 1.0], k=[50, 300], alpha=[0.5, 0.7, 0.9])
UPCF_GRID = dict(r=[0, 5, 10], alpha=[0.25, 0.5, 0.75], q=[1, 5, 10], k=[0, 100])
# --grid small (bench/nextbasket.sh's default on the demo data, whose full
# grids took over 77 minutes on the shared 2-core machine): 2 of the 12
# TIFU-KNN vector builds and 8 of the 54 UP-CF@r settings, keeping the
# values chosen before (UCI: TIFU-KNN m 3, r_b 1, r_g 0.6, k 50, alpha 0.5;
# demo: r_g 0.8, k 300, alpha 0.9; UP-CF@r r 0 / 10, alpha 0.75 / 0.25,
# q 5 / 1, k 100)
TIFU_GRID_SMALL = dict(m=[3], rb=[1.0], rg=[0.6, 0.8], k=[50, 300], alpha=[0.5, 0.7, 0.9])
UPCF_GRID_SMALL = dict(r=[0, 10], alpha=[0.25, 0.75], q=[1, 5], k=[100])


def run_tifu(sp, grid):
    res = []
    kmax = max(grid["k"])
    for m, rb, rg in itertools.product(grid["m"], grid["rb"], grid["rg"]):
        x = tifu_vectors(sp, m, rb, rg)
        nb = tifu_neighbours(x, sp.eval_rows, min(kmax, len(sp.users) - 1))
        for k, alpha in itertools.product(grid["k"], grid["alpha"]):
            p = dict(m=m, rb=rb, rg=rg, k=k, alpha=alpha)
            res.append((p, evaluate(sp, tifu_scores(x, sp.eval_rows, nb, min(k, nb.shape[1]), alpha))))
    return res


def run_upcf(sp, grid):
    res = []
    for r in grid["r"]:
        up = upcf_popularity(sp, r)
        for alpha, q, k in itertools.product(grid["alpha"], grid["q"], grid["k"]):
            p = dict(r=r, alpha=alpha, q=q, k=k)
            res.append((p, evaluate(sp, upcf_scores(sp, up, alpha, q, k))))
    return res


def fmt(name, params, ev):
    lines = []
    for mode in ("all", "new"):
        n, ndcg, prec, rec, ap, hit = ev[mode]
        lines.append("%-6s %-10s %5d  ndcg %.4f  prec %.4f  recall %.4f  map %.4f  hit %.3f  %s"
                     % (mode, name, n, ndcg, prec, rec, ap, hit, params))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("split")
    ap.add_argument("--test-days", type=int, default=None)
    ap.add_argument("--tune-split")
    ap.add_argument("--tune-days", type=int, default=28)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--methods", default="count,tifu,upcf")
    ap.add_argument("--grid", choices=("full", "small"), default="full")
    a = ap.parse_args()
    grids = {"tifu": TIFU_GRID_SMALL if a.grid == "small" else TIFU_GRID,
             "upcf": UPCF_GRID_SMALL if a.grid == "small" else UPCF_GRID}
    d = Data(a.db)
    methods = a.methods.split(",")
    chosen = {}
    if a.tune_split:
        vs = Split(d, a.tune_split, a.tune_days, a.sample, a.seed)
        print("validation %s (+%d days): %d customers with history" % (a.tune_split, a.tune_days, len(vs.eval)))
        for name, fn in (("tifu", run_tifu), ("upcf", run_upcf)):
            if name not in methods:
                continue
            res = fn(vs, grids[name])
            for mode in ("all", "new"):
                best = max(res, key=lambda pr: pr[1][mode][1])
                chosen[(name, mode)] = {k: [v] for k, v in best[0].items()}
                print("  %s %s: best ndcg %.4f with %s" % (name, mode, best[1][mode][1], best[0]))
        sys.stdout.flush()
    ts = Split(d, a.split, a.test_days, a.sample, a.seed)
    print("test %s (%s): %d customers with history, %d without"
          % (a.split, "all later days" if a.test_days is None else "+%d days" % a.test_days,
             len(ts.eval), ts.cold))
    out = []
    if "count" in methods:
        out += fmt("count", "baskets holding the product, then the latest", evaluate(ts, count_scores(ts)))
    for name, fn in (("tifu", run_tifu), ("upcf", run_upcf)):
        if name not in methods:
            continue
        grid = grids[name]
        for mode in ("all", "new"):
            g = chosen.get((name, mode), {k: [v[0]] for k, v in grid.items()} if not a.tune_split else None)
            if g is None:
                continue
            p, ev = fn(ts, g)[0]
            out.append(fmt(name, p, ev)[0 if mode == "all" else 1])
    for line in sorted(out, key=lambda s: s.split()[0]):
        print(line)


if __name__ == "__main__":
    main()
