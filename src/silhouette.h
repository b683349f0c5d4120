/*
 * silhouette.h
 *      The exact mean silhouette (silhouette.c), for the choice of k
 *      (select_k.c).
 */
#ifndef SEG_RECO_SILHOUETTE_H
#define SEG_RECO_SILHOUETTE_H

#include "postgres.h"

/*
 * Exact mean silhouette of the n rows of x (n x d) with labels (any
 * integers).  x is centred in place and the mean added back at the end
 * (harmless to callers).
 */
extern double seg_reco_silhouette_exact(double *x, int64 n, int d, const int32 *labels);

#endif							/* SEG_RECO_SILHOUETTE_H */
