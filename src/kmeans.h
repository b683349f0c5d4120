/*
 * kmeans.h
 *      k-means on prepared rows (kmeans.c), for the k-means aggregate and
 *      what builds on it: GMM initialisation (gmm.c) and the choice of k
 *      (select_k.c).
 */
#ifndef SEG_RECO_KMEANS_H
#define SEG_RECO_KMEANS_H

#include "postgres.h"

#include "common/pg_prng.h"

/*
 * k-means on x (n x d, not modified); results out.  The model is consistent
 * with itself: labels and sizes are the nearest centres by exact distances,
 * inertia the sum of those squared distances.
 */
typedef struct SegRecoKMeansResult
{
	double	   *centers;		/* k x d */
	int32	   *labels;			/* n, 0-based; may be NULL if not wanted */
	int64	   *sizes;			/* k */
	double		inertia;
	int			iterations;
} SegRecoKMeansResult;

extern void seg_reco_kmeans_fit(const double *x, int64 n, int d, int k, int n_init, int max_iter,
								double tol, pg_prng_state *rng, SegRecoKMeansResult *res);

#endif							/* SEG_RECO_KMEANS_H */
