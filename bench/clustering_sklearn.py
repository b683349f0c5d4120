"""scikit-learn side of bench/clustering.sh (the benchmark only; never a
dependency of the extension).  Prints key=value lines.

Usage: clustering_sklearn.py DIR   (DIR holds points.npy and sample.csv)
"""
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

d = sys.argv[1]
X = np.load(f"{d}/points.npy")

info = threadpool_info()
print("sk_blas=" + ";".join(f"{i.get('internal_api')}:{i.get('architecture')}:{i.get('num_threads')}"
                            for i in info))

times = []
for seed in range(3):
    t0 = time.perf_counter()
    km3 = KMeans(n_clusters=8, n_init=3, random_state=seed).fit(X)
    times.append(time.perf_counter() - t0)
print(f"sk_kmeans3_s={np.median(times):.3f}")
print(f"sk_kmeans3_inertia={km3.inertia_:.10g}")

t0 = time.perf_counter()
km10 = KMeans(n_clusters=8, n_init=10, random_state=0).fit(X)
print(f"sk_kmeans10_s={time.perf_counter() - t0:.3f}")
print(f"sk_kmeans10_inertia={km10.inertia_:.10g}")

with threadpool_limits(limits=1):
    t0 = time.perf_counter()
    gm = GaussianMixture(n_components=8, covariance_type="full", random_state=0).fit(X)
    print(f"sk_gmm_s={time.perf_counter() - t0:.3f}")
print(f"sk_gmm_loglik={gm.score(X):.12g}")
print(f"sk_gmm_iter={gm.n_iter_}")

S = np.loadtxt(f"{d}/sample.csv", delimiter=",")
print(f"sk_silhouette={silhouette_score(S[:, :8], S[:, 8].astype(int)):.15f}")
