#!/usr/bin/python3
"""Reference frequent itemsets and association rules, written plainly.

A level-wise count (every k-subset of every basket, restricted to the items
of the frequent (k-1)-itemsets) with Python's Counter: slow, but correct by
inspection, and a different algorithm from seg_reco's FP-growth.  Rules as
arules' apriori defines them (Borgelt's implementation inside arules): a
set is frequent when its basket count >= ceil(min_support x baskets); rules
X => {y} for every frequent set X u {y} (X may be empty), support of the
rule = support of X u {y}, kept when confidence >= min_confidence - 1e-12;
min_length/max_length count the items of X u {y} (arules' minlen, maxlen).

    python3 bench/assoc_reference.py BASKETS_FILE [--support S] [--confidence C]
            [--min-length 1] [--max-length 10] [--rules-out FILE] [--itemsets-out FILE]

BASKETS_FILE: one basket a line, items comma separated (groceries.csv), or
with --pairs a CSV of basket,item lines.  Prints the number of baskets, of
frequent items, of frequent itemsets per length and of rules per length;
--rules-out writes every rule as "lhs items|rhs|count" (items sorted, ;
separated) so that seg_reco's output can be compared line by line.
"""
import argparse
import csv
import math
import sys
from collections import Counter
from itertools import combinations


def read_baskets(path, pairs):
    if pairs:
        groups = {}
        with open(path, newline='') as f:
            for row in csv.reader(f):
                if len(row) < 2 or row[0] == '' or row[1] == '':
                    continue
                groups.setdefault(row[0], set()).add(row[1])
        return [frozenset(b) for b in groups.values()]
    baskets = []
    with open(path, newline='') as f:
        for line in f:
            line = line.rstrip('\r\n')
            if line == '':
                continue
            baskets.append(frozenset(line.split(',')))
    return baskets


def min_count(support, n):
    # arules (Borgelt's istree.c): s_min = (int) ceil(tacnt * supp); the
    # 1e-9 only absorbs a product such as 0.01 x 100 that rounds up
    return max(1, math.ceil(support * n - 1e-9))


def frequent_itemsets(baskets, smin, max_length):
    """{frozenset: count} of every set with count >= smin, length <= max_length."""
    freq = {}
    single = Counter(i for b in baskets for i in b)
    level = {frozenset([i]): c for i, c in single.items() if c >= smin}
    k = 1
    while level and k <= max_length:
        freq.update(level)
        if k == max_length:
            break
        k += 1
        items = set().union(*level.keys())
        prev = set(level.keys())
        counts = Counter()
        for b in baskets:
            sub = sorted(b & items)
            if len(sub) < k:
                continue
            for c in combinations(sub, k):
                counts[c] += 1
        level = {}
        for c, n in counts.items():
            if n < smin:
                continue
            s = frozenset(c)
            # all (k-1)-subsets are frequent by anti-monotonicity; checked anyway
            if all(s - {x} in prev for x in s):
                level[s] = n
    return freq


def rules(freq, n, min_conf, min_length):
    out = []
    for s, cnt in freq.items():
        if len(s) < min_length:
            continue
        for y in s:
            x = s - {y}
            cx = n if not x else freq[x]
            conf = cnt / cx
            if conf < min_conf - 1e-12:
                continue
            out.append((x, y, cnt, conf, conf / (freq[frozenset([y])] / n)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('baskets')
    ap.add_argument('--pairs', action='store_true', help='the file holds basket,item lines')
    ap.add_argument('--support', type=float, default=0.001)
    ap.add_argument('--confidence', type=float, default=0.8)
    ap.add_argument('--min-length', type=int, default=1)
    ap.add_argument('--max-length', type=int, default=10)
    ap.add_argument('--rules-out')
    ap.add_argument('--itemsets-out')
    a = ap.parse_args()
    baskets = read_baskets(a.baskets, a.pairs)
    n = len(baskets)
    smin = min_count(a.support, n)
    freq = frequent_itemsets(baskets, smin, a.max_length)
    by_len = Counter(len(s) for s in freq)
    print(f'baskets {n}, minimum count {smin}, frequent items {by_len[1]}')
    print('itemsets by length', dict(sorted(by_len.items())), 'total', len(freq))
    rs = rules(freq, n, a.confidence, a.min_length)
    rl = Counter(len(x) + 1 for x, *_ in rs)
    print('rules by length', dict(sorted(rl.items())), 'total', len(rs))
    if rs:
        top = max(rs, key=lambda r: (r[4], r[2]))
        print('top lift: {%s} => {%s} count %d confidence %.7f lift %.6f'
              % (','.join(sorted(top[0])), top[1], top[2], top[3], top[4]))
    if a.rules_out:
        with open(a.rules_out, 'w') as f:
            for x, y, cnt, conf, lift in sorted(rs, key=lambda r: (sorted(r[0]), r[1])):
                f.write('%s|%s|%d\n' % (';'.join(sorted(x)), y, cnt))
    if a.itemsets_out:
        with open(a.itemsets_out, 'w') as f:
            for s, cnt in sorted(freq.items(), key=lambda kv: sorted(kv[0])):
                f.write('%s|%d\n' % (';'.join(sorted(s)), cnt))


if __name__ == '__main__':
    sys.exit(main())
