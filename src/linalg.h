/*
 * linalg.h
 *      The only door to OpenBLAS/LAPACK in seg_reco.
 *
 * Matrices are dense, row-major arrays of double.  Every entry point checks
 * its sizes against INT_MAX (BLAS takes int dimensions) and raises
 * ERRCODE_PROGRAM_LIMIT_EXCEEDED past it; blocked loops call
 * CHECK_FOR_INTERRUPTS() between blocks, so a cancel stops them quickly.
 *
 * Call seg_reco_blas_begin() once at the start of each training or scoring
 * call: it sets OpenBLAS's thread count from the GUC seg_reco.blas_threads.
 */
#ifndef SEG_RECO_LINALG_H
#define SEG_RECO_LINALG_H

#include "postgres.h"

#include <math.h>

/* GUC seg_reco.blas_threads, defined in seg_reco.c */
extern PGDLLIMPORT int seg_reco_blas_threads;

extern void seg_reco_blas_begin(void);

/* out[i] = ||x_i||^2 for the n rows of x (n x d) */
extern void seg_reco_row_sqnorms(const double *x, int64 n, int d, double *out);

/*
 * C = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
 * C is m x n, op(A) is m x k, op(B) is k x n.
 */
extern void seg_reco_gemm(bool trans_a, bool trans_b, int64 m, int64 n, int64 k,
						  double alpha, const double *a, int64 lda,
						  const double *b, int64 ldb,
						  double beta, double *c, int64 ldc);

/* C += alpha * A^T A (A is rows x d, C is d x d; both triangles filled) */
extern void seg_reco_syrk_tn(const double *a, int64 rows, int d, double alpha, double *c);

/*
 * Squared Euclidean distances from the n rows of x to the k rows of c,
 * ||x||^2 - 2 x.c + ||c||^2 computed by dgemm in blocks of rows and clipped
 * at zero.  xnorm / cnorm: the squared norms (seg_reco_row_sqnorms).  For
 * each block, fn(row0, rows, dist, arg) sees dist as a rows x k matrix.
 */
typedef void (*seg_reco_dist_block_fn) (int64 row0, int rows, const double *dist, void *arg);

extern void seg_reco_sqdist_foreach(const double *x, const double *xnorm, int64 n,
									const double *c, const double *cnorm, int k, int d,
									seg_reco_dist_block_fn fn, void *arg);

/*
 * seg_reco_sqdist_small: the same clipped squared distances for one block
 * of rows and a few centres (k <= SEG_RECO_SMALL_K), in plain C: for so few
 * columns dgemm spends more time packing its operands than multiplying.
 * ct is the centres transposed and padded with zero columns to
 * seg_reco_sqdist_small_pad(k) columns (d x pad); dist is rows x k.  Makes no
 * PostgreSQL or OpenBLAS call, so worker threads may use it.
 */
#define SEG_RECO_SMALL_K 32

extern int	seg_reco_sqdist_small_pad(int k);
extern void seg_reco_sqdist_small(const double *x, const double *xnorm, int rows, int d,
								  const double *ct, const double *cnorm, int k, double *dist);

/* rows per block that seg_reco_sqdist_foreach uses for k columns */
extern int	seg_reco_block_rows(int64 cols);

/*
 * Cholesky factorisation in place: a (d x d, symmetric) becomes L, lower
 * triangular with a = L L^T, the upper triangle zeroed.  Returns false when
 * a is not (numerically) positive definite; a is then garbage.
 */
extern bool seg_reco_cholesky(double *a, int d);

/* log det(L L^T) = 2 sum log L_ii */
extern double seg_reco_chol_logdet(const double *l, int d);

/* b := L^{-1} b (lower triangular solve, one right-hand side) */
extern void seg_reco_trsv_lower(const double *l, int d, double *b);

/* b := L^{-T} b (the transposed solve) */
extern void seg_reco_trsv_lower_t(const double *l, int d, double *b);

/* solve (L L^T) x = b in place, b of length d */
extern void seg_reco_chol_solve(const double *l, int d, double *b);

/* out = (L^{-1})^T, upper triangular: the "precision Cholesky" factor */
extern void seg_reco_chol_precision_factor(const double *l, int d, double *out);

/*
 * For ALS (als_train.c, reco_*.c).
 *
 * seg_reco_dot: dot product with eight partial sums, so the compiler can
 * keep several multiply-adds in flight (a single running sum is bound by
 * the latency of each add; -O2 without -ffast-math cannot reorder it).
 */
static inline double
seg_reco_dot(const double *a, const double *b, int d)
{
	double		s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	int			j = 0,
				t;

	for (; j + 8 <= d; j += 8)
		for (t = 0; t < 8; t++)
			s[t] += a[j + t] * b[j + t];
	for (; j < d; j++)
		s[0] += a[j] * b[j];
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/*
 * out[j] := seg_reco_dot(x, y + j * d, d) for j < n (the rows of y against
 * one vector: a customer's als scores), y stored in single precision and
 * widened exactly, each row summed in exactly the order of seg_reco_dot:
 * the bits of seg_reco_dot over the rows in double, from half the bytes
 * (recommend_for reads every product's factors at each call).  Four rows at
 * a time with vector clones per CPU (plain loops over seg_reco_dot were
 * vectorised across rows, with strided loads).
 */
extern void seg_reco_dot_rows_f(const float *y, int64 n, int d, const double *x, double *out);

/*
 * Sort the candidates cand[0..nc-1] ascending, their exact scores
 * exact[] with them (insertion: few, and nearly in order; the screening's
 * candidates of seg_reco_als_screen and recommend_all).  No PostgreSQL
 * call: tasks may run it.
 */
/* task-safe: see threads.h */
static inline void
seg_reco_sort_candidates(int32 *cand, double *exact, int nc)
{
	int			i;

	for (i = 1; i < nc; i++)
	{
		int32		c = cand[i];
		double		v = exact[i];
		int			k = i - 1;

		while (k >= 0 && cand[k] > c)
		{
			cand[k + 1] = cand[k];
			exact[k + 1] = exact[k];
			k--;
		}
		cand[k + 1] = c;
		exact[k + 1] = v;
	}
}

/*
 * The k largest values above -Infinity (of those offered): offer m to the
 * min-heap heap[0..*hn-1] of at most k values; heap[0] is then the k-th
 * largest once *hn reaches k (the threshold passes of seg_reco_topk and
 * seg_reco_als_screen).  No PostgreSQL call: tasks may run it.
 */
/* task-safe: see threads.h */
static inline void
seg_reco_heap_offer(double *heap, int *hn, int k, double m)
{
	int			c;

	if (!(m > -INFINITY))
		return;
	if (*hn < k)
	{
		c = (*hn)++;
		heap[c] = m;
		while (c > 0 && heap[(c - 1) / 2] > heap[c])
		{
			double		t = heap[c];

			heap[c] = heap[(c - 1) / 2];
			heap[(c - 1) / 2] = t;
			c = (c - 1) / 2;
		}
		return;
	}
	if (!(m > heap[0]))
		return;
	heap[0] = m;
	c = 0;
	for (;;)
	{
		int			l = 2 * c + 1,
					r = l + 1,
					mm = c;
		double		t;

		if (l < *hn && heap[l] < heap[mm])
			mm = l;
		if (r < *hn && heap[r] < heap[mm])
			mm = r;
		if (mm == c)
			break;
		t = heap[c];
		heap[c] = heap[mm];
		heap[mm] = t;
		c = mm;
	}
}

/*
 * The k best of scores[0..n-1] (only where allowed[i], unless allowed is
 * NULL), best first, ties to the lower index; returns the count written to
 * out (at most k).
 */
extern int	seg_reco_topk(const double *scores, const bool *allowed, int64 n, int k, int32 *out);
extern int	seg_reco_topk_set(const double *scores, int64 n, int k, int32 *out, double *work);

/* the number of true flags among v[0..n-1] */
extern int	seg_reco_count_true(const bool *v, int n);

/*
 * For ALS training in single precision (als_train.c).
 *
 * seg_reco_syrk_tn_f: C += alpha * A^T A for a float A (rows x d) into a
 * double C (d x d, both triangles filled); A is converted to double in
 * blocks of rows, so the sums grow in double.
 */
extern void seg_reco_syrk_tn_f(const float *a, int64 rows, int d, double alpha, double *c);

/*
 * SIMD kernels chosen at run time (linalg_score.c).  The setting
 * seg_reco.simd (auto, or a level to use at most) and the CPU decide
 * seg_reco_simd_level(), read on the backend's thread and passed to the
 * tasks; every level gives the same bits.
 */
enum
{
	SEG_RECO_SIMD_GENERIC = 0,	/* the default x86-64 (SSE2), or plain C */
	SEG_RECO_SIMD_AVX2 = 1,		/* AVX2 and FMA */
	SEG_RECO_SIMD_AVX512 = 2,	/* AVX-512F */
	SEG_RECO_SIMD_AUTO = 3
};

/* GUC seg_reco.simd, defined in seg_reco.c */
extern PGDLLIMPORT int seg_reco_simd;

/* the level to use: the best the CPU supports, at most the setting's */
extern int	seg_reco_simd_level(void);
extern const char *seg_reco_simd_name(int level);

/* the best level of this CPU */
extern const char *seg_reco_simd_cpu_name(void);

/*
 * The products' single-precision factors y (n x d) in panels of eight for
 * seg_reco_score_rows: ((n + 7) / 8) * d * 8 doubles, in the current
 * memory context, aligned to 64 bytes (freed with the context, not pfree).
 */
extern double *seg_reco_score_panels(const float *y, int64 n, int d);

/*
 * out[r * ldo + i] := x_r . y_i for the rows x (rows x d, each value a
 * float widened to double) and the n products of panels, each the bits of
 * seg_reco_dot (and of seg_reco_dot_rows_f) whatever the level.  No
 * PostgreSQL call: tasks may run it.
 */
extern void seg_reco_score_rows(int level, const double *x, int rows, int d, const double *panels,
								int64 n, double *out, int64 ldo);

/*
 * Screening in single precision (linalg_score.c): the products' factors
 * in panels of sixteen floats; the float scores of rows x (rows x d
 * floats) against them (whole panels stored: ldo >= ((n + 15) / 16) * 16);
 * the bound of their error against the double scores; and from one
 * customer's float scores, the products that can be among the p best
 * exactly (see seg_reco_als_screen in linalg_score.c).  No PostgreSQL call
 * in the last three: tasks may run them.
 */
extern float *seg_reco_score_panels_f(const float *y, int64 n, int d);
extern void seg_reco_score_rows_f(int level, const float *x, int rows, int d, const float *panels,
								  int64 n, float *out, int64 ldo);
extern double seg_reco_screen_bound(int d, double xnorm, double ymax);
/* room for seg_reco_als_screen's gmax: two floats per group, two per block */
#define SEG_RECO_SCREEN_ROOM(n) ((n) / 4 + (n) / 64 + 32)
extern int	seg_reco_als_screen(const float *sf, int64 n, int p, double e, double rest, const float *yf, int d,
								const double *x, int32 *cand, double *exact, int cap, float *gmax,
								double *lo, double *hi, double *sup);

#endif							/* SEG_RECO_LINALG_H */
