#!/usr/bin/python3
"""A plain TF-IDF content recommender as the reference for seg_reco's content
source (bench/content.sh): scikit-learn's TfidfVectorizer with unigrams and
bigrams and its English stop words over each product's text, a customer's
profile = the sum of the vectors of the products they bought, the top k by
cosine.  Reads three CSV files written by bench/content.sh (no header):

  products.csv   product_id, active (t/f), text
  history.csv    customer_id, product_id, receipt_id, epoch seconds (purchases before the split)
  eval.csv       customer_id, relevant product ids separated by spaces (the test window)

and prints NDCG@k (and precision, recall, hit rate) averaged over the
customers of eval.csv, for two profiles:
  plain        each product weighted by the number of receipts holding it
  seg_reco     seg_reco's own profile: per receipt, decayed by 0.5^(age / 90 days)
Ranking: all active products, purchased ones included (mode "all"), ties to
the lower product id.  Usage: content_tfidf_ref.py DIR [k] [stop_words]
(stop_words: "english" (default) or "none").
"""
import csv
import math
import sys
from collections import defaultdict

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


def ndcg(rec, rel, k):
    dcg = sum(1.0 / math.log2(i + 2) for i, p in enumerate(rec[:k]) if p in rel)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / idcg


def main():
    d = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    sw = sys.argv[3] if len(sys.argv) > 3 else "english"
    pid, active, text = [], [], []
    with open(f"{d}/products.csv", newline="") as f:
        for r in csv.reader(f):
            pid.append(int(r[0]))
            active.append(r[1] == "t")
            text.append(r[2])
    pid = np.array(pid)
    active = np.array(active)
    index = {p: i for i, p in enumerate(pid)}
    vec = TfidfVectorizer(ngram_range=(1, 2), stop_words=None if sw == "none" else sw)
    X = vec.fit_transform(text).tocsr()          # l2-normalised rows, smooth idf
    XT = X.T.tocsr()

    hist = defaultdict(list)
    with open(f"{d}/history.csv", newline="") as f:
        for r in csv.reader(f):
            hist[int(r[0])].append((int(r[1]), int(r[2]), float(r[3])))

    rel = {}
    with open(f"{d}/eval.csv", newline="") as f:
        for r in csv.reader(f):
            rel[int(r[0])] = set(int(x) for x in r[1].split())

    order_key = -pid.astype(np.float64)  # ties to the lower product id
    results = {}
    for variant in ("plain", "seg_reco"):
        m = defaultdict(list)
        for c, relevant in rel.items():
            h = hist.get(c)
            if not h or not relevant:
                continue
            w = defaultdict(float)
            if variant == "plain":
                seen = set()
                for p, rc, _ in h:
                    if (p, rc) not in seen:
                        seen.add((p, rc))
                        w[p] += 1.0
            else:
                first = {}
                for p, rc, ts in h:
                    first[(p, rc)] = min(ts, first.get((p, rc), ts))
                latest = max(first.values())
                for (p, rc), ts in first.items():
                    w[p] += 0.5 ** ((latest - ts) / 86400.0 / 90.0)
            idx = np.array([index[p] for p in w])
            wt = np.array([w[p] for p in w])
            prof = np.asarray(X[idx].T @ wt).ravel()
            nrm = np.linalg.norm(prof)
            if nrm == 0:
                rec = []
            else:
                s = np.asarray(X @ (prof / nrm)).ravel()
                ok = active & (s > 0)
                cand = np.nonzero(ok)[0]
                top = cand[np.lexsort((order_key[cand], s[cand]))[::-1][:k]]
                rec = [int(pid[i]) for i in top]
            hits = sum(1 for p in rec[:k] if p in relevant)
            m["ndcg"].append(ndcg(rec, relevant, k))
            m["prec"].append(hits / k)
            m["recall"].append(hits / len(relevant))
            m["hit"].append(1.0 if hits else 0.0)
        results[variant] = m
    print(f"vocabulary {len(vec.vocabulary_)} (unigrams and bigrams, stop words {sw}), "
          f"products {len(pid)}")
    print(f"{'profile':<10} {'customers':>9} {'ndcg':>7} {'prec':>7} {'recall':>7} {'hit':>6}")
    for variant, m in results.items():
        print(f"{variant:<10} {len(m['ndcg']):>9} {np.mean(m['ndcg']):7.4f} {np.mean(m['prec']):7.4f} "
              f"{np.mean(m['recall']):7.4f} {np.mean(m['hit']):6.3f}")


if __name__ == "__main__":
    main()
