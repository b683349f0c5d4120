"""Points for bench/clustering.sh: 1,000,000 x 8 in 8 overlapping blobs.

Writes <dir>/points.csv (8 columns, %.17g so values round-trip exactly into
float8) and <dir>/points.npy.  Usage: clustering_data.py DIR [N]
"""
import sys

import numpy as np
from sklearn.datasets import make_blobs

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
X, _ = make_blobs(n_samples=n, n_features=8, centers=8, cluster_std=2.5,
                  center_box=(-10.0, 10.0), random_state=42)
np.save(f"{out}/points.npy", X)
np.savetxt(f"{out}/points.csv", X, fmt="%.17g", delimiter=",")
