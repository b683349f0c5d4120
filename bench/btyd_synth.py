#!/usr/bin/python3
"""Synthetic BG/NBD customer summaries for bench/btyd.sh.

    btyd_synth.py N SEED r alpha a b  > summaries.csv

Each customer: lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b), T uniform on
[1, 52] weeks (whole days / 7); purchases follow a Poisson process of rate
lambda and after each repeat purchase the customer drops out with
probability p (Fader, Hardie & Lee 2005).  Prints frequency,recency,t.
"""
import sys
import numpy as np

n, seed = int(sys.argv[1]), int(sys.argv[2])
r, alpha, a, b = (float(v) for v in sys.argv[3:7])
rng = np.random.default_rng(seed)
lam = rng.gamma(r, 1.0 / alpha, n)
p = rng.beta(a, b, n)
T = rng.integers(7, 365, n, endpoint=True) / 7.0
x = np.zeros(n, dtype=np.int64)
tx = np.zeros(n)
t = np.zeros(n)
alive = np.ones(n, dtype=bool)
while alive.any():
    idx = np.nonzero(alive)[0]
    gap = rng.exponential(1.0, idx.size) / np.maximum(lam[idx], 1e-300)
    tn = t[idx] + gap
    inside = tn <= T[idx]
    buy = idx[inside]
    x[buy] += 1
    tx[buy] = tn[inside]
    t[buy] = tn[inside]
    alive[idx[~inside]] = False
    # dropout after a repeat purchase
    drop = rng.random(buy.size) < p[buy]
    alive[buy[drop]] = False
out = sys.stdout
np.savetxt(out, np.column_stack([x, tx, T]), fmt=["%d", "%.6f", "%.6f"], delimiter=",")
