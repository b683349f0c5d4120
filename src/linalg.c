/*
 * linalg.c
 *      Dense kernels over OpenBLAS and its bundled LAPACK (dpotrf).
 *
 * This is the only file that includes cblas.h.  The OpenBLAS thread count
 * is set explicitly before each training call from seg_reco.blas_threads
 * (never in _PG_init), sizes are checked against INT_MAX before every BLAS
 * call, and long loops run in blocks with CHECK_FOR_INTERRUPTS() between.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include <cblas.h>

#include "miscadmin.h"

#include "linalg.h"
#include "threads.h"

/* from OpenBLAS's bundled LAPACK (Fortran calling convention) */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);

/* target size of one distance block, in doubles (256 KiB) */
#define SQDIST_BLOCK_DOUBLES 32768

static void
check_blas_size(int64 v, const char *what)
{
	if (v < 0 || v > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("matrix %s %lld is out of range for BLAS", what, (long long) v),
				 errdetail("BLAS dimensions must lie between 0 and %d.", INT_MAX),
				 errhint("Use fewer rows or features.")));
}

void
seg_reco_blas_begin(void)
{
	int			want = Min(seg_reco_blas_threads, seg_reco_max_threads);

	if (want < 1)
		want = 1;
	if (openblas_get_num_threads() != want)
		openblas_set_num_threads(want);
}

int
seg_reco_block_rows(int64 cols)
{
	int64		rows;

	if (cols < 1)
		cols = 1;
	rows = SQDIST_BLOCK_DOUBLES / cols;
	if (rows < 64)
		rows = 64;
	if (rows > 8192)
		rows = 8192;
	return (int) rows;
}

void
seg_reco_row_sqnorms(const double *x, int64 n, int d, double *out)
{
	int64		i;

	for (i = 0; i < n; i++)
	{
		const double *r = x + i * d;
		double		s = 0.0;
		int			j;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		for (j = 0; j < d; j++)
			s += r[j] * r[j];
		out[i] = s;
	}
}

void
seg_reco_gemm(bool trans_a, bool trans_b, int64 m, int64 n, int64 k,
			  double alpha, const double *a, int64 lda,
			  const double *b, int64 ldb,
			  double beta, double *c, int64 ldc)
{
	check_blas_size(m, "rows");
	check_blas_size(n, "columns");
	check_blas_size(k, "inner dimension");
	check_blas_size(lda, "leading dimension");
	check_blas_size(ldb, "leading dimension");
	check_blas_size(ldc, "leading dimension");
	if (m == 0 || n == 0)
		return;
	cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
				trans_b ? CblasTrans : CblasNoTrans,
				(int) m, (int) n, (int) k, alpha, a, (int) lda, b, (int) ldb,
				beta, c, (int) ldc);
}

void
seg_reco_syrk_tn(const double *a, int64 rows, int d, double alpha, double *c)
{
	int			i,
				j;

	check_blas_size(rows, "rows");
	check_blas_size(d, "columns");
	if (rows == 0 || d == 0)
		return;
	/* row-major C, lower triangle: C += alpha A^T A */
	cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, d, (int) rows,
				alpha, a, d, 1.0, c, d);
	/* mirror into the upper triangle */
	for (i = 0; i < d; i++)
		for (j = i + 1; j < d; j++)
			c[i * d + j] = c[j * d + i];
}

void
seg_reco_sqdist_foreach(const double *x, const double *xnorm, int64 n,
						const double *c, const double *cnorm, int k, int d,
						seg_reco_dist_block_fn fn, void *arg)
{
	int			block = seg_reco_block_rows(k);
	double	   *dist;
	int64		row0;

	check_blas_size(n, "rows");
	check_blas_size((int64) block * k, "block");
	dist = palloc(sizeof(double) * (Size) block * k);
	for (row0 = 0; row0 < n; row0 += block)
	{
		int			rows = (int) Min((int64) block, n - row0);
		int			i,
					j;

		CHECK_FOR_INTERRUPTS();
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, k, d,
					-2.0, x + row0 * d, d, c, d, 0.0, dist, k);
		for (i = 0; i < rows; i++)
		{
			double	   *r = dist + (Size) i * k;
			double		xn = xnorm[row0 + i];

			for (j = 0; j < k; j++)
			{
				double		v = r[j] + xn + cnorm[j];

				r[j] = v > 0.0 ? v : 0.0;
			}
		}
		fn(row0, rows, dist, arg);
	}
	pfree(dist);
}

/*
 * Vectorised clones, chosen by CPU features at load time (a clone per named
 * CPU model would leave newer models on the default).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LINALG_TARGET_CLONES __attribute__((target_clones("default", "fma")))
#else
#define LINALG_TARGET_CLONES
#endif

/* task-safe: see threads.h */
int
seg_reco_sqdist_small_pad(int k)
{
	return k <= 4 ? 4 : k <= 8 ? 8 : k <= 16 ? 16 : 32;
}

/* four doubles; the unaligned variant for loads from palloc'd arrays */
typedef double sq_v4 __attribute__((vector_size(32)));
typedef double sq_v4u __attribute__((vector_size(32), aligned(8)));

/*
 * kp (a multiple of 4) is a constant where inlined: the kp / 4 accumulators
 * stay in registers and the loops unroll.
 */
/* task-safe: see threads.h */
static inline __attribute__((always_inline)) void
sqdist_fixed(const double *x, const double *xnorm, int rows, int d,
			 const double *ct, const double *cnorm, int k, double *dist, const int kp)
{
	int			i,
				j,
				q,
				c;

	for (i = 0; i < rows; i++)
	{
		const double *xi = x + (Size) i * d;
		double	   *out = dist + (Size) i * k;
		sq_v4		acc[SEG_RECO_SMALL_K / 4];
		double		xn = xnorm[i];

		for (q = 0; q < kp / 4; q++)
			acc[q] = (sq_v4) {0.0, 0.0, 0.0, 0.0};
		for (j = 0; j < d; j++)
		{
			const sq_v4u *cj = (const sq_v4u *) (ct + (Size) j * kp);
			double		v = xi[j];
			sq_v4		vb = {v, v, v, v};

			for (q = 0; q < kp / 4; q++)
				acc[q] += vb * cj[q];
		}
		for (c = 0; c < k; c++)
		{
			double		v = (xn + cnorm[c]) - 2.0 * acc[c / 4][c % 4];

			out[c] = v > 0.0 ? v : 0.0;
		}
	}
}

/* task-safe: see threads.h */
LINALG_TARGET_CLONES void
seg_reco_sqdist_small(const double *x, const double *xnorm, int rows, int d,
					  const double *ct, const double *cnorm, int k, double *dist)
{
	switch (seg_reco_sqdist_small_pad(k))
	{
		case 4:
			sqdist_fixed(x, xnorm, rows, d, ct, cnorm, k, dist, 4);
			break;
		case 8:
			sqdist_fixed(x, xnorm, rows, d, ct, cnorm, k, dist, 8);
			break;
		case 16:
			sqdist_fixed(x, xnorm, rows, d, ct, cnorm, k, dist, 16);
			break;
		default:
			sqdist_fixed(x, xnorm, rows, d, ct, cnorm, k, dist, 32);
			break;
	}
}

bool
seg_reco_cholesky(double *a, int d)
{
	int			info = 0;
	int			n = d;
	int			i,
				j;
	char		uplo = 'U';

	if (d <= 0)
		return false;
	/*
	 * Row-major a read as column-major is a^T = a; dpotrf's upper factor U
	 * (a = U^T U, column-major) is, read row-major, the lower L = U^T.
	 */
	dpotrf_(&uplo, &n, a, &n, &info);
	if (info != 0)
		return false;
	for (i = 0; i < d; i++)
	{
		if (!(a[i * d + i] > 0.0) || isinf(a[i * d + i]))
			return false;
		for (j = i + 1; j < d; j++)
			a[i * d + j] = 0.0;
	}
	return true;
}

double
seg_reco_chol_logdet(const double *l, int d)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < d; i++)
		s += log(l[i * d + i]);
	return 2.0 * s;
}

void
seg_reco_trsv_lower(const double *l, int d, double *b)
{
	cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, d, l, d, b, 1);
}

void
seg_reco_trsv_lower_t(const double *l, int d, double *b)
{
	cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, d, l, d, b, 1);
}

void
seg_reco_chol_solve(const double *l, int d, double *b)
{
	seg_reco_trsv_lower(l, d, b);
	seg_reco_trsv_lower_t(l, d, b);
}

void
seg_reco_chol_precision_factor(const double *l, int d, double *out)
{
	double	   *inv = palloc0(sizeof(double) * (Size) d * d);
	int			i,
				j;

	for (i = 0; i < d; i++)
		inv[i * d + i] = 1.0;
	/* inv := L^{-1} */
	cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
				d, d, 1.0, l, d, inv, d);
	for (i = 0; i < d; i++)
		for (j = 0; j < d; j++)
			out[i * d + j] = inv[j * d + i];
	pfree(inv);
}

/*
 * Top-k selection (reco_*.c, tfidf.c): the k best entries of
 * scores[0..n-1] whose allowed[] is true (all when allowed is NULL), best
 * first; ties go to the lower index so that results are deterministic.
 * A min-heap of k entries: O(n log k).  Returns how many were written to out.
 */
/* task-safe: see threads.h */
static inline bool
topk_worse(const double *s, int32 a, int32 b)
{
	return s[a] < s[b] || (s[a] == s[b] && a > b);
}

/* task-safe: see threads.h */
static void
topk_sift_down(const double *s, int32 *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;
		int32		t;

		if (l < n && topk_worse(s, h[l], h[m]))
			m = l;
		if (r < n && topk_worse(s, h[r], h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/*
 * Four doubles a vector, two for the eight lanes of a group: the AVX2 clone
 * keeps them in ymm registers (GCC 12 lowered vectors of eight, with their
 * byte-to-mask conversion, to scalar compares through the stack there).
 */
typedef double tk_v4 __attribute__((vector_size(32)));
typedef double tk_v4u __attribute__((vector_size(32), aligned(8)));
typedef int64 tk_l4 __attribute__((vector_size(32)));
typedef uint8 tk_b4u __attribute__((vector_size(4), aligned(1)));
#define TK_SELECT(m, a, b) ((tk_v4) ((((tk_l4) (a)) & (m)) | (((tk_l4) (b)) & ~(m))))

/* offer entry q to the heap out[0 .. *size - 1] of at most k */
/* task-safe: see threads.h */
static inline void
topk_offer(const double *scores, int32 *out, int *size, int k, int32 q)
{
	if (*size < k)
	{
		/* sift up */
		int			c = (*size)++;

		out[c] = q;
		while (c > 0)
		{
			int			p = (c - 1) / 2;
			int32		t;

			if (!topk_worse(scores, out[c], out[p]))
				break;
			t = out[c];
			out[c] = out[p];
			out[p] = t;
			c = p;
		}
	}
	else if (topk_worse(scores, out[0], q))
	{
		/* q replaces the worst kept (the root) */
		out[0] = q;
		topk_sift_down(scores, out, *size, 0);
	}
}

/* any lane of a comparison's result m (a tk_l4) set */
typedef int64 tk_l2 __attribute__((vector_size(16)));
#define TK_ANY(m) \
	({ \
		tk_l4		m_ = (m); \
		tk_l2		c_ = __builtin_shufflevector(m_, m_, 0, 1) | __builtin_shufflevector(m_, m_, 2, 3); \
		(c_[0] | c_[1]) != 0; \
	})

/* vectors of eight per block of the threshold pass, and most blocks */
#define TK_BLOCK_VECTORS 4
#define TK_MAX_BLOCKS 512

/*
 * The threshold pass of seg_reco_topk.  The entries fall into groups: in
 * each block of TK_BLOCK_VECTORS x 8 entries (or more, for long arrays),
 * the entries of one vector lane, and the entries after the last block.
 * A vertical maximum per block gives the largest allowed score of each
 * group, and T := the k-th largest of those.  At least k entries score T
 * or more (k groups' maxima), so every entry below T has k better ones:
 * the top k are among the entries scoring T or more, in the blocks whose
 * maxima reach T.  Offering just those to the heap, in index order, keeps
 * what offering all would (the order "higher score, then lower index" is
 * total without NaN).  Returns false (do the plain pass) when a NaN is
 * allowed or fewer than k groups have an allowed entry above -Infinity.
 */
/* task-safe: see threads.h */
static inline __attribute__((always_inline)) bool
topk_threshold(const double *scores, const bool *allowed, int64 n, int k, int32 *out, int *size)
{
	tk_v4		bmax[TK_MAX_BLOCKS][2];
	double		heap[64];
	int64		bl = TK_BLOCK_VECTORS * 8,
				nb,
				b,
				q;
	int			hn = 0,
				h,
				l;
	bool		nan = false;
	double		thr,
				tail = -INFINITY;
	const tk_v4 ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
	tk_l4		nanv = {0};

	while (n / bl > TK_MAX_BLOCKS)
		bl *= 2;
	nb = n / bl;
	for (b = 0; b < nb; b++)
	{
		tk_v4		mv[2] = {ninf, ninf};
		int64		e = (b + 1) * bl;

		for (q = b * bl; q < e; q += 8)
			for (h = 0; h < 2; h++)
			{
				tk_v4		x = *(const tk_v4u *) (scores + q + 4 * h);

				if (allowed != NULL)
				{
					tk_l4		ok = __builtin_convertvector(*(const tk_b4u *) ((const uint8 *) allowed + q + 4 * h), tk_l4) != 0;

					x = TK_SELECT(ok, x, ninf);
				}
				nanv |= x != x;
				mv[h] = TK_SELECT(x > mv[h], x, mv[h]);
			}
		/* the lanes that could enter the heap of maxima (few, once it is full) */
		for (h = 0; h < 2; h++)
		{
			bmax[b][h] = mv[h];
			if (TK_ANY(mv[h] > (hn < k ? -INFINITY : heap[0])))
				for (l = 0; l < 4; l++)
					if (mv[h][l] > (hn < k ? -INFINITY : heap[0]))
						seg_reco_heap_offer(heap, &hn, k, mv[h][l]);
		}
	}
	for (q = nb * bl; q < n; q++)
		if (allowed == NULL || allowed[q])
		{
			nan |= isnan(scores[q]);
			tail = scores[q] > tail ? scores[q] : tail;
		}
	seg_reco_heap_offer(heap, &hn, k, tail);
	for (l = 0; l < 4; l++)
		nan |= nanv[l] != 0;
	if (nan || hn < k)
		return false;
	thr = heap[0];
	*size = 0;
	for (b = 0; b < nb; b++)
	{
		if (!TK_ANY((bmax[b][0] >= thr) | (bmax[b][1] >= thr)))
			continue;
		/* eight at a time: the vectors holding an entry of T or more */
		for (q = b * bl; q < (b + 1) * bl; q += 8)
		{
			int64		r;

			if (!TK_ANY((*(const tk_v4u *) (scores + q) >= thr) |
						(*(const tk_v4u *) (scores + q + 4) >= thr)))
				continue;
			for (r = q; r < q + 8; r++)
				if ((allowed == NULL || allowed[r]) && scores[r] >= thr)
					topk_offer(scores, out, size, k, (int32) r);
		}
	}
	if (tail >= thr)
		for (q = nb * bl; q < n; q++)
			if ((allowed == NULL || allowed[q]) && scores[q] >= thr)
				topk_offer(scores, out, size, k, (int32) q);
	return true;
}

/*
 * In clones per CPU: the compares are exact, so every clone keeps the same
 * entries.
 */
/* task-safe: see threads.h */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
int
seg_reco_topk(const double *scores, const bool *allowed, int64 n, int k, int32 *out)
{
	int			size = 0;
	int64		i = 0;
	int			j;

	if (k <= 0)
		return 0;

	/*
	 * Many entries and a short list: the threshold pass (a pass of vector
	 * maxima, then the few blocks that can hold the best).  Ties and the
	 * order are those of the plain pass below.
	 */
	if (n >= 1024 && k <= 64 && (int64) k * 32 <= n &&
		n <= PG_INT32_MAX && topk_threshold(scores, allowed, n, k, out, &size))
		i = n;
	else
	{
		/* the first k allowed */
		for (; i < n && size < k; i++)
		{
			/* task-safe: a no-op on a worker thread (see threads.h) */
			if ((i & 1048575) == 1048575)
				SEG_RECO_CHECK_FOR_INTERRUPTS();
			if (allowed != NULL && !allowed[i])
				continue;
			topk_offer(scores, out, &size, k, (int32) i);
		}
	}

	/*
	 * The rest: i replaces the worst kept (the heap's root) when it is
	 * better, and as every kept index is below i, ties keep the root: a
	 * strictly higher score only.  Blocks of eight without one are skipped
	 * at once (most of them, once the heap holds good scores).
	 */
	while (i < n)
	{
		double		worst = scores[out[0]];
		int64		end = Min(i + 8, n),
					q;
		bool		any = false;

		/* task-safe: a no-op on a worker thread (see threads.h) */
		if ((i & 1048575) < 8)
			SEG_RECO_CHECK_FOR_INTERRUPTS();
		for (q = i; q < end; q++)
			any |= (allowed == NULL || allowed[q]) && scores[q] > worst;
		if (any)
			for (q = i; q < end; q++)
				if ((allowed == NULL || allowed[q]) && topk_worse(scores, out[0], (int32) q))
				{
					out[0] = (int32) q;
					topk_sift_down(scores, out, size, 0);
				}
		i = end;
	}
	/* heap sort: repeatedly move the worst to the end */
	for (j = size - 1; j > 0; j--)
	{
		int32		t = out[0];

		out[0] = out[j];
		out[j] = t;
		topk_sift_down(scores, out, j, 0);
	}
	return size;
}

/*
 * work[t] after a quickselect, descending (the (t + 1)-th largest of
 * work[0..n-1], no NaN): median of three, three-way partitions.  false
 * when it takes more rounds than any fair run needs (the caller falls
 * back to a heap).
 */
/* task-safe: see threads.h */
static bool
topk_select_value(double *work, int64 n, int64 t, double *value)
{
	int64		lo = 0,
				hi = n - 1;
	int			rounds = 0;

	while (lo < hi)
	{
		double		a = work[lo],
					b = work[lo + (hi - lo) / 2],
					c = work[hi],
					pivot;
		int64		lt = lo,
					i = lo,
					gt = hi;

		if (++rounds > 64)
			return false;
		pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		/* above the pivot, equal, below */
		while (i <= gt)
		{
			double		x = work[i];

			if (x > pivot)
			{
				work[i] = work[lt];
				work[lt] = x;
				lt++;
				i++;
			}
			else if (x < pivot)
			{
				work[i] = work[gt];
				work[gt] = x;
				gt--;
			}
			else
				i++;
		}
		if (t < lt)
			hi = lt - 1;
		else if (t > gt)
			lo = gt + 1;
		else
			break;
	}
	*value = work[t];
	return true;
}

/*
 * The k best entries of scores[0..n-1] as a set (the order "higher score,
 * then lower index", as seg_reco_topk): out[0..k-1] ascending by index,
 * for callers that need which entries, not their rank.  The k-th best
 * value v, then one pass in index order takes the entries above v and
 * the first of those equal to v.  v by a quickselect (work: n doubles of
 * scratch) of the entries that can reach it: for long arrays, those at or
 * above T, the k-th largest of the maxima of 4k slices (at least k
 * entries reach T, and about as many again); O(n).  Returns how many
 * (Min(k, n)), or -1 when a score is NaN or a quickselect goes badly
 * (then seg_reco_topk, O(n log k), does it).
 */
/* task-safe: see threads.h */
int
seg_reco_topk_set(const double *scores, int64 n, int k, int32 *out, double *work)
{
	int64		q,
				m = 0,
				above = 0;
	int			got = 0,
				ties;
	bool		nan = false;
	double		v;

	if (k <= 0 || n <= 0)
		return 0;
	if (k >= n)
	{
		for (q = 0; q < n; q++)
			if (isnan(scores[q]))
				return -1;
		for (q = 0; q < n; q++)
			out[q] = (int32) q;
		return (int) n;
	}
	if (n >= 16 * (int64) k)
	{
		int64		ng = 4 * (int64) k,
					gs = n / ng,
					g;
		double		thr;

		for (g = 0; g < ng; g++)
		{
			int64		e = g == ng - 1 ? n : (g + 1) * gs;
			double		mx = -INFINITY;

			for (q = g * gs; q < e; q++)
			{
				double		x = scores[q];

				nan |= x != x;
				mx = x > mx ? x : mx;
			}
			work[g] = mx;
		}
		if (nan || !topk_select_value(work, ng, k - 1, &thr))
			return -1;
		for (q = 0; q < n; q++)
			if (scores[q] >= thr)
				work[m++] = scores[q];
	}
	else
		for (q = 0; q < n; q++)
		{
			nan |= isnan(scores[q]);
			work[m++] = scores[q];
		}
	if (nan || !topk_select_value(work, m, k - 1, &v))
		return -1;
	for (q = 0; q < n; q++)
		above += scores[q] > v;
	ties = (int) (k - above);
	for (q = 0; q < n; q++)
		if (scores[q] > v || (scores[q] == v && ties-- > 0))
			out[got++] = (int32) q;
	return got;
}

/* task-safe: see threads.h */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
int
seg_reco_count_true(const bool *v, int n)
{
	const uint8 *b = (const uint8 *) v;
	int			j,
				k = 0;

	for (j = 0; j < n; j++)
		k += b[j] != 0;
	return k;
}

/*
 * For ALS training in single precision (als_train.c).
 */

/* rows converted to double per dsyrk call in seg_reco_syrk_tn_f */
#define SYRK_F_BLOCK_ROWS 1024

void
seg_reco_syrk_tn_f(const float *a, int64 rows, int d, double alpha, double *c)
{
	double	   *buf;
	int64		row0;

	check_blas_size(rows, "rows");
	check_blas_size(d, "columns");
	if (rows == 0 || d == 0)
		return;
	buf = palloc(sizeof(double) * SYRK_F_BLOCK_ROWS * d);
	for (row0 = 0; row0 < rows; row0 += SYRK_F_BLOCK_ROWS)
	{
		int64		n = Min((int64) SYRK_F_BLOCK_ROWS, rows - row0);
		const float *src = a + row0 * d;
		int64		j;

		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < n * d; j++)
			buf[j] = (double) src[j];
		cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, d, (int) n,
					alpha, buf, d, 1.0, c, d);
	}
	pfree(buf);
	/* mirror into the upper triangle */
	for (row0 = 0; row0 < d; row0++)
	{
		int			j;

		for (j = (int) row0 + 1; j < d; j++)
			c[row0 * d + j] = c[(int64) j * d + row0];
	}
}

/*
 * seg_reco_dot_rows_f (see linalg.h).  The lanes of an eight-double vector
 * are seg_reco_dot's eight partial sums; each float is widened to double
 * (exactly) before its product, so the values are those of seg_reco_dot
 * over the same rows in double, to the bit, from half the bytes.  AVX-512F
 * has fused multiply-adds of its own: contraction is off, so every clone
 * (and every CPU) gives seg_reco_dot's bits.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DOT_ROWS_CLONES __attribute__((target_clones("default", "avx2", "avx512f"), optimize("fp-contract=off")))
#else
#define DOT_ROWS_CLONES
#endif

/*
 * Four doubles a vector, two for the eight lanes (lo: 0-3, hi: 4-7): the
 * AVX2 clone keeps the sums in ymm registers (GCC 12 spilled vectors of
 * eight to the stack at every step there).
 */
typedef double dr_v4 __attribute__((vector_size(32)));

/* unaligned loads of four doubles, and of four floats widened to doubles */
typedef double dr_v4u __attribute__((vector_size(32), aligned(8)));
typedef float fr_v4u __attribute__((vector_size(16), aligned(4)));
#define DR_LOAD(p) (*(const dr_v4u *) (p))
#define FR_LOAD(p) __builtin_convertvector(*(const fr_v4u *) (p), dr_v4)

/* task-safe: see threads.h */
static inline __attribute__((always_inline)) double
fr_finish(const dr_v4 *lop, const dr_v4 *hip, const float *row, const double *x, int j, int d)
{
	dr_v4		lo = *lop,
				hi = *hip;
	double		s0 = lo[0];

	for (; j < d; j++)
		s0 += (double) row[j] * x[j];
	return ((s0 + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3]));
}

/* task-safe: see threads.h */
DOT_ROWS_CLONES
void
seg_reco_dot_rows_f(const float *y, int64 n, int d, const double *x, double *out)
{
	int64		i = 0;
	int			d8 = d - d % 8;

	for (; i + 4 <= n; i += 4)
	{
		const float *r0 = y + (Size) i * d;
		const float *r1 = r0 + d;
		const float *r2 = r1 + d;
		const float *r3 = r2 + d;
		dr_v4		a0 = {0},
					b0 = {0},
					a1 = {0},
					b1 = {0},
					a2 = {0},
					b2 = {0},
					a3 = {0},
					b3 = {0};
		int			j;

		for (j = 0; j < d8; j += 8)
		{
			dr_v4		xa = DR_LOAD(x + j),
						xb = DR_LOAD(x + j + 4);

			a0 += FR_LOAD(r0 + j) * xa;
			b0 += FR_LOAD(r0 + j + 4) * xb;
			a1 += FR_LOAD(r1 + j) * xa;
			b1 += FR_LOAD(r1 + j + 4) * xb;
			a2 += FR_LOAD(r2 + j) * xa;
			b2 += FR_LOAD(r2 + j + 4) * xb;
			a3 += FR_LOAD(r3 + j) * xa;
			b3 += FR_LOAD(r3 + j + 4) * xb;
		}
		out[i] = fr_finish(&a0, &b0, r0, x, d8, d);
		out[i + 1] = fr_finish(&a1, &b1, r1, x, d8, d);
		out[i + 2] = fr_finish(&a2, &b2, r2, x, d8, d);
		out[i + 3] = fr_finish(&a3, &b3, r3, x, d8, d);
	}
	for (; i < n; i++)
	{
		const float *r = y + (Size) i * d;
		dr_v4		a = {0},
					b = {0};
		int			j;

		for (j = 0; j < d8; j += 8)
		{
			a += FR_LOAD(r + j) * DR_LOAD(x + j);
			b += FR_LOAD(r + j + 4) * DR_LOAD(x + j + 4);
		}
		out[i] = fr_finish(&a, &b, r, x, d8, d);
	}
}
