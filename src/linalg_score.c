/*
 * linalg_score.c
 *      The customers x products score matrix of recommend_all, and the
 *      choice of the SIMD kernels by the CPU (and the setting seg_reco.simd).
 *
 * Scores are x_u . y_i over single-precision factors widened to double:
 * each product of two floats is exact in double (24 + 24 significant bits
 * fit in 53), so a fused multiply-add and a multiply then an add give the
 * same bits, and every kernel below adds in exactly the order of
 * seg_reco_dot (eight partial sums over j mod 8, the tail into the first,
 * then ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))): the bits of
 * recommend_for's seg_reco_dot_rows_f, on every CPU and whatever kernel.
 * OpenBLAS's dgemm (what recommend_all used) adds in the order of the
 * kernel it picks for the CPU; implicit uses float32 sums.
 *
 * Layout: the products in panels of eight (seg_reco_score_panels): panel p
 * holds products 8p .. 8p + 7 transposed, d rows of eight doubles, so one
 * vector load gives one factor of eight products and each lane of a vector
 * accumulator is one product's partial sum: no horizontal sums.  The
 * kernels are written once per instruction set (AVX-512F: eight doubles a
 * vector, two customers a pass; AVX2 with FMA: four; the default x86-64
 * SSE2: two) and chosen by seg_reco_simd_level() on the backend's thread,
 * the level passed down to the tasks (threads.h: no call through a
 * pointer, no global read).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "linalg.h"
#include "threads.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LS_X86 1
#define LS_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define LS_AVX2 __attribute__((target("avx2,fma")))
#else
#define LS_X86 0
#endif

/* the best level this CPU (and OS) supports */
static int
simd_cpu_level(void)
{
#if LS_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
		__builtin_cpu_supports("fma"))
		return SEG_RECO_SIMD_AVX512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return SEG_RECO_SIMD_AVX2;
#endif
	return SEG_RECO_SIMD_GENERIC;
}

int
seg_reco_simd_level(void)
{
	int			cpu = simd_cpu_level();

	if (seg_reco_simd == SEG_RECO_SIMD_AUTO)
		return cpu;
	return Min(seg_reco_simd, cpu);
}

const char *
seg_reco_simd_name(int level)
{
	switch (level)
	{
		case SEG_RECO_SIMD_AVX512:
			return "avx512f";
		case SEG_RECO_SIMD_AVX2:
			return "avx2";
		case SEG_RECO_SIMD_GENERIC:
			return "generic";
		default:
			return "auto";
	}
}

const char *
seg_reco_simd_cpu_name(void)
{
	return seg_reco_simd_name(simd_cpu_level());
}

PG_FUNCTION_INFO_V1(seg_reco_simd_info);

/*
 * seg_reco.simd_info(OUT setting text, OUT cpu text, OUT used text): the
 * setting seg_reco.simd, the best level of this CPU, and the level the
 * kernels use.
 */
Datum
seg_reco_simd_info(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(seg_reco_simd_name(seg_reco_simd));
	values[1] = CStringGetTextDatum(seg_reco_simd_cpu_name());
	values[2] = CStringGetTextDatum(seg_reco_simd_name(seg_reco_simd_level()));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}

/* panels of eight products: p * d * 8 doubles each */
double *
seg_reco_score_panels(const float *y, int64 n, int d)
{
	int64		np = (n + 7) / 8,
				p;
	double	   *panels;

	if (np * d * 8 > (int64) (MaxAllocHugeSize / sizeof(double)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many products to score: " INT64_FORMAT " of %d factors", n, d)));
	/* aligned to a cache line: a panel row is one line */
	panels = (double *) TYPEALIGN(64, MemoryContextAllocHuge(CurrentMemoryContext,
															  sizeof(double) * Max(np * d * 8, 1) + 64));
	for (p = 0; p < np; p++)
	{
		double	   *pp = panels + p * d * 8;
		int			l,
					j;

		CHECK_FOR_INTERRUPTS();
		for (l = 0; l < 8; l++)
		{
			int64		i = p * 8 + l;

			for (j = 0; j < d; j++)
				pp[j * 8 + l] = i < n ? (double) y[i * d + j] : 0.0;
		}
	}
	return panels;
}

typedef double ls_v8 __attribute__((vector_size(64)));
typedef double ls_v8u __attribute__((vector_size(64), aligned(8)));
typedef double ls_v4 __attribute__((vector_size(32)));
typedef double ls_v4u __attribute__((vector_size(32), aligned(8)));
typedef double ls_v2 __attribute__((vector_size(16)));
typedef double ls_v2u __attribute__((vector_size(16), aligned(8)));

/* out[0 .. cnt-1] := the lanes of v (the last panel may be short) */
#define LS_STORE(out, v, w, cnt) \
	do { \
		int			l_; \
		if ((cnt) == (w)) \
			memcpy((out), &(v), sizeof(double) * (w)); \
		else \
			for (l_ = 0; l_ < (cnt); l_++) \
				(out)[l_] = (v)[l_]; \
	} while (0)

/*
 * The AVX-512F kernel: rows two at a time, eight products a vector; the
 * sixteen accumulators and a panel row fit the 32 registers.  Every row
 * meets a panel before the next (the panel stays in the L1 cache).
 */
#if LS_X86
/* task-safe: see threads.h */
LS_AVX512
static void
score_rows_avx512(const double *x, int rows, int d, const double *panels, int64 n,
				  double *out, int64 ldo)
{
	int64		np = (n + 7) / 8,
				p;
	int			r,
				d8 = d - d % 8;

	for (p = 0; p < np; p++)
	{
		const double *pp = panels + p * d * 8;

		for (r = 0; r < rows; r += 2)
		{
			const double *x0 = x + (Size) r * d;
			const double *x1 = r + 1 < rows ? x0 + d : x0;	/* an odd last row twice */
			ls_v8		a[8] = {{0}},
						b[8] = {{0}},
						sa,
						sb;
			int			j,
						t,
						cnt = (int) Min(8, n - p * 8);

			for (j = 0; j < d8; j += 8)
				for (t = 0; t < 8; t++)
				{
					ls_v8		yv = *(const ls_v8u *) (pp + (j + t) * 8);

					a[t] += x0[j + t] * yv;
					b[t] += x1[j + t] * yv;
				}
			for (; j < d; j++)
			{
				ls_v8		yv = *(const ls_v8u *) (pp + j * 8);

				a[0] += x0[j] * yv;
				b[0] += x1[j] * yv;
			}
			sa = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
			sb = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
			LS_STORE(out + (Size) r * ldo + p * 8, sa, 8, cnt);
			if (r + 1 < rows)
				LS_STORE(out + (Size) (r + 1) * ldo + p * 8, sb, 8, cnt);
		}
	}
}

/*
 * The AVX2 kernel: one row, each panel in two halves of four products
 * (eight accumulators and a load in the sixteen registers).
 */
/* task-safe: see threads.h */
LS_AVX2
static void
score_rows_avx2(const double *x, int rows, int d, const double *panels, int64 n,
				double *out, int64 ldo)
{
	int64		np = (n + 7) / 8,
				p;
	int			r,
				d8 = d - d % 8;

	for (p = 0; p < np; p++)
	{
		for (r = 0; r < rows; r++)
		{
			const double *x0 = x + (Size) r * d;
			int			h,
						cnt = (int) Min(8, n - p * 8);

			for (h = 0; h < 2 && 4 * h < cnt; h++)
			{
				const double *pp = panels + p * d * 8 + 4 * h;
				ls_v4		a[8] = {{0}},
							sa;
				int			j,
							t;

				for (j = 0; j < d8; j += 8)
					for (t = 0; t < 8; t++)
						a[t] += x0[j + t] * *(const ls_v4u *) (pp + (j + t) * 8);
				for (; j < d; j++)
					a[0] += x0[j] * *(const ls_v4u *) (pp + j * 8);
				sa = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
				LS_STORE(out + (Size) r * ldo + p * 8 + 4 * h, sa, 4, Min(4, cnt - 4 * h));
			}
		}
	}
}
#endif

/*
 * The default kernel (any x86-64: SSE2, or plain C elsewhere): one row,
 * each panel in quarters of two products.
 */
/* task-safe: see threads.h */
static void
score_rows_generic(const double *x, int rows, int d, const double *panels, int64 n,
				   double *out, int64 ldo)
{
	int64		np = (n + 7) / 8,
				p;
	int			r,
				d8 = d - d % 8;

	for (p = 0; p < np; p++)
	{
		for (r = 0; r < rows; r++)
		{
			const double *x0 = x + (Size) r * d;
			int			h,
						cnt = (int) Min(8, n - p * 8);

			for (h = 0; h < 4 && 2 * h < cnt; h++)
			{
				const double *pp = panels + p * d * 8 + 2 * h;
				ls_v2		a[8] = {{0}},
							sa;
				int			j,
							t;

				for (j = 0; j < d8; j += 8)
					for (t = 0; t < 8; t++)
						a[t] += x0[j + t] * *(const ls_v2u *) (pp + (j + t) * 8);
				for (; j < d; j++)
					a[0] += x0[j] * *(const ls_v2u *) (pp + j * 8);
				sa = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
				LS_STORE(out + (Size) r * ldo + p * 8 + 2 * h, sa, 2, Min(2, cnt - 2 * h));
			}
		}
	}
}

/* task-safe: see threads.h */
void
seg_reco_score_rows(int level, const double *x, int rows, int d, const double *panels, int64 n,
					double *out, int64 ldo)
{
	switch (level)
	{
#if LS_X86
		case SEG_RECO_SIMD_AVX512:
			score_rows_avx512(x, rows, d, panels, n, out, ldo);
			break;
		case SEG_RECO_SIMD_AVX2:
			score_rows_avx2(x, rows, d, panels, n, out, ldo);
			break;
#endif
		default:
			score_rows_generic(x, rows, d, panels, n, out, ldo);
			break;
	}
}

/*
 * Single precision, for screening (seg_reco_als_screen): scores in float32
 * as implicit computes them, twice as many per instruction, then exact
 * (double, seg_reco_dot's bits) for the few products that can be among
 * the best.  Panels of sixteen products (d rows of sixteen floats).
 */
float *
seg_reco_score_panels_f(const float *y, int64 n, int d)
{
	int64		np = (n + 15) / 16,
				p;
	float	   *panels;

	if (np * d * 16 > (int64) (MaxAllocHugeSize / sizeof(float)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many products to score: " INT64_FORMAT " of %d factors", n, d)));
	/* aligned to a cache line: a panel row is one line */
	panels = (float *) TYPEALIGN(64, MemoryContextAllocHuge(CurrentMemoryContext,
															 sizeof(float) * Max(np * d * 16, 1) + 64));
	for (p = 0; p < np; p++)
	{
		float	   *pp = panels + p * d * 16;
		int			l,
					j;

		CHECK_FOR_INTERRUPTS();
		for (l = 0; l < 16; l++)
		{
			int64		i = p * 16 + l;

			for (j = 0; j < d; j++)
				pp[j * 16 + l] = i < n ? y[i * d + j] : 0.0f;
		}
	}
	return panels;
}

typedef float lf_v16 __attribute__((vector_size(64)));

typedef float lf_v16u __attribute__((vector_size(64), aligned(4)));
typedef float lf_v8 __attribute__((vector_size(32)));
typedef float lf_v8u __attribute__((vector_size(32), aligned(4)));
typedef float lf_v4 __attribute__((vector_size(16)));
typedef float lf_v4u __attribute__((vector_size(16), aligned(4)));

/*
 * The float kernels: rows x (rows x d floats) against the panels into out
 * (rows x ldo floats, ldo >= the panels' padded width: whole panels are
 * stored).  The products in chunks of W (a vector: a panel's sixteen, or
 * its halves or quarters), V chunks and R rows a pass: R x V accumulators
 * in registers, each factor of a chunk loaded once for the R rows and each
 * factor of a row broadcast once for the V chunks (AVX-512F: 8 rows x 32
 * products, 16 of the 32 registers; AVX2: 4 x 16 of 16; SSE2: 2 x 16 of
 * 16).  A short last pass recomputes its last chunk in the unused slots
 * (stored once).  The order of the sums does not matter to the caller
 * (seg_reco_als_screen bounds the error of any order).
 */
#define LF_KERNEL(NAME, ATTR, VT, VTU, W, R, V) \
ATTR static void \
NAME(const float *x, int rows, int d, const float *panels, int64 n, float *out, int64 ldo) \
{ \
	int64		nc = (n + 15) / 16 * (16 / (W)), \
				c; \
\
	for (c = 0; c < nc; c += (V)) \
	{ \
		int			cc = (int) Min((V), nc - c), \
					r, \
					t; \
		const float *base[V]; \
\
		for (t = 0; t < (V); t++) \
		{ \
			int64		o = (c + Min(t, cc - 1)) * (W); \
\
			base[t] = panels + (o / 16) * d * 16 + o % 16; \
		} \
		for (r = 0; r < rows; r += (R)) \
		{ \
			VT			a[R][V]; \
			const float *xr[R]; \
			int			j, \
						q; \
\
			memset(a, 0, sizeof(a)); \
			for (q = 0; q < (R); q++) \
				xr[q] = x + (Size) Min(r + q, rows - 1) * d; \
			for (j = 0; j < d; j++) \
			{ \
				VT			yv[V]; \
\
				for (t = 0; t < (V); t++) \
					yv[t] = *(const VTU *) (base[t] + (Size) j * 16); \
				for (q = 0; q < (R); q++) \
				{ \
					float		xs = xr[q][j]; \
\
					for (t = 0; t < (V); t++) \
						a[q][t] += xs * yv[t]; \
				} \
			} \
			for (q = 0; q < (R) && r + q < rows; q++) \
				for (t = 0; t < cc; t++) \
					memcpy(out + (Size) (r + q) * ldo + (c + t) * (W), &a[q][t], sizeof(VT)); \
		} \
	} \
}

/* task-safe: see threads.h */
#if LS_X86
LF_KERNEL(score_rows_f_avx512, LS_AVX512, lf_v16, lf_v16u, 16, 8, 2)
/* task-safe: see threads.h */
LF_KERNEL(score_rows_f_avx2, LS_AVX2, lf_v8, lf_v8u, 8, 4, 2)
#endif
/* task-safe: see threads.h */
LF_KERNEL(score_rows_f_generic, , lf_v4, lf_v4u, 4, 2, 4)

/* task-safe: see threads.h */
void
seg_reco_score_rows_f(int level, const float *x, int rows, int d, const float *panels, int64 n,
					  float *out, int64 ldo)
{
	switch (level)
	{
#if LS_X86
		case SEG_RECO_SIMD_AVX512:
			score_rows_f_avx512(x, rows, d, panels, n, out, ldo);
			break;
		case SEG_RECO_SIMD_AVX2:
			score_rows_f_avx2(x, rows, d, panels, n, out, ldo);
			break;
#endif
		default:
			score_rows_f_generic(x, rows, d, panels, n, out, ldo);
			break;
	}
}

/*
 * The bound of |float32 score - double score| for a customer: both sum the
 * d products of a dot in some order, each within gamma_d = d u / (1 - d u)
 * of the exact sum relative to sum |x_j y_j| <= ||x|| ||y|| (Higham,
 * Accuracy and Stability, 3.1; u = 2^-24 and 2^-53), plus d times the
 * smallest normal float for products that underflow; 1% added for the
 * rounding of this very expression.  Infinite (screening off) when d u is
 * not small or the scores could overflow a float.
 */
/* task-safe: see threads.h */
double
seg_reco_screen_bound(int d, double xnorm, double ymax)
{
	double		uf = ldexp(1.0, -24),
				ud = ldexp(1.0, -53),
				g;

	if (d * uf >= 0.01 || !(xnorm * ymax < 1e30))
		return INFINITY;
	g = d * uf / (1 - d * uf) + d * ud / (1 - d * ud);
	return 1.01 * (g * xnorm * ymax + d * (double) FLT_MIN);
}

/*
 * The lanes of g[0..15] >= t (or z[0..15] <= tz, with z) as bits, without
 * a branch a lane
 */
/* task-safe: see threads.h */
static inline uint32
screen_mask(const float *g, float t, const float *z, float tz)
{
	uint32		mask = 0;
	int			l;

	for (l = 0; l < 16; l++)
		mask |= (uint32) (g[l] >= t) << l;
	if (z != NULL)
		for (l = 0; l < 16; l++)
			mask |= (uint32) (z[l] <= tz) << l;
	return mask;
}

/* the position of the lowest set bit of w (not 0) */
/* task-safe: see threads.h */
static inline int
screen_low_bit(uint32 w)
{
#if defined(__GNUC__) || defined(__clang__)
	return __builtin_ctz(w);
#else
	int			b = 0;

	while ((w & 1) == 0)
	{
		w >>= 1;
		b++;
	}
	return b;
#endif
}

/* the second pass of seg_reco_als_screen: its bounds and outputs */
typedef struct ScreenVisit
{
	const float *sf;
	float		tf,
				tlo;
	const float *yf;
	int			d;
	const double *x;
	int32	   *cand;
	double	   *exact;
	int			nc,
				cap;
	double		vlo,
				vhi;
} ScreenVisit;

/* product q: exact when it reaches a bound; false when past cap candidates */
/* task-safe: see threads.h */
static inline bool
screen_visit(ScreenVisit *sv, int64 q)
{
	bool		top = sv->sf[q] >= sv->tf,
				low = sv->sf[q] <= sv->tlo;
	double		v;

	if (!top && !low)
		return true;
	seg_reco_dot_rows_f(sv->yf + (Size) q * sv->d, 1, sv->d, sv->x, &v);
	if (low)
		sv->vlo = v < sv->vlo ? v : sv->vlo;
	if (top)
	{
		if (sv->nc == sv->cap)
			return false;
		sv->vhi = v > sv->vhi ? v : sv->vhi;
		sv->cand[sv->nc] = (int32) q;
		sv->exact[sv->nc] = v;
		sv->nc++;
	}
	return true;
}

#define LS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define LS_MIN(a, b) ((a) < (b) ? (a) : (b))

/*
 * From one customer's float scores sf[0..n-1] (error at most e each):
 * the products that can be among the p best by the exact score, and the
 * exact extremes.  Groups of the screening: in each block of LS_BLOCK
 * (128) products, the products of one lane of its eight vectors of
 * sixteen; and each product after the last block.  T := the p-th largest
 * group maximum of sf.  At least p products have sf >= T, so exact scores
 * >= T - e; a product with sf < T - 2e has an exact score below T - e,
 * below theirs: the p best are among the candidates sf >= T - 2e.
 * Likewise the largest exact score is among them, the smallest among sf
 * <= min sf + 2e.  Only the groups whose maximum (minimum) reaches the
 * bound are read again.
 *
 * T in two rounds: T0 := the p-th largest of the blocks' maxima (each a
 * group's) and the products after the blocks; at least p groups reach
 * T0, so T >= T0, and T is the p-th largest over the groups of the blocks
 * whose maximum reaches T0 (and the products after): a few blocks, where
 * one heap over all the groups would take most of them in turn.
 *
 * rest: when at least 0, a bound on |exact score| of products beyond the
 * n of sf (not scored yet); -2 (score more first) unless every one of them
 * is below T - e and above the smallest float score + e, so that neither
 * the p best nor the exact minimum can be among them: checked before any
 * exact score is computed.
 *
 * cand gets the candidates (ascending), exact their exact scores
 * (seg_reco_dot's bits over x and the rows of yf); *lo, *hi the exact
 * extremes over all n; *sup a number above every other product's exact
 * score (T - e).  Returns the count, or -1 (do the full pass instead) when
 * more than cap, p > 256 or p >= n.  gmax: room for
 * SEG_RECO_SCREEN_ROOM(n) floats (the groups' maxima and minima, the
 * blocks').
 */
#define LS_BLOCK 128

/* task-safe: see threads.h */
#if LS_X86
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
int
seg_reco_als_screen(const float *sf, int64 n, int p, double e, double rest, const float *yf, int d,
					const double *x, int32 *cand, double *exact, int cap, float *gmax,
					double *lo, double *hi, double *sup)
{
	double		heap[256];
	float	   *gmin,
			   *bmax,
			   *bmin;
	int			hn = 0,
				nc = 0,
				l;
	int64		nb = n / LS_BLOCK,
				b,
				j;
	float		mn = INFINITY,
				mx = -INFINITY,
				t0,
				tf,
				tlo;
	double		thr,
				tmin;
	ScreenVisit sv;

	if (p <= 0 || p > 256 || p >= n || !(e < INFINITY))
		return -1;
	gmin = gmax + nb * 16;
	bmax = gmin + nb * 16;
	bmin = bmax + nb;
	/* each group's maximum and minimum, and each block's */
	for (b = 0; b < nb; b++)
	{
		const float *s = sf + b * LS_BLOCK;
		float	   *a = gmax + b * 16,
				   *z = gmin + b * 16,
					a8[8],
					z8[8],
					a4[4],
					z4[4];

		/* (loops the compiler vectorises) */
		for (l = 0; l < 16; l++)
		{
			float		a01 = LS_MAX(s[l], s[16 + l]),
						a23 = LS_MAX(s[32 + l], s[48 + l]),
						a45 = LS_MAX(s[64 + l], s[80 + l]),
						a67 = LS_MAX(s[96 + l], s[112 + l]),
						z01 = LS_MIN(s[l], s[16 + l]),
						z23 = LS_MIN(s[32 + l], s[48 + l]),
						z45 = LS_MIN(s[64 + l], s[80 + l]),
						z67 = LS_MIN(s[96 + l], s[112 + l]),
						a03 = LS_MAX(a01, a23),
						a47 = LS_MAX(a45, a67),
						z03 = LS_MIN(z01, z23),
						z47 = LS_MIN(z45, z67);

			a[l] = LS_MAX(a03, a47);
			z[l] = LS_MIN(z03, z47);
		}
		for (l = 0; l < 8; l++)
		{
			a8[l] = LS_MAX(a[l], a[l + 8]);
			z8[l] = LS_MIN(z[l], z[l + 8]);
		}
		for (l = 0; l < 4; l++)
		{
			a4[l] = LS_MAX(a8[l], a8[l + 4]);
			z4[l] = LS_MIN(z8[l], z8[l + 4]);
		}
		bmax[b] = LS_MAX(LS_MAX(a4[0], a4[2]), LS_MAX(a4[1], a4[3]));
		bmin[b] = LS_MIN(LS_MIN(z4[0], z4[2]), LS_MIN(z4[1], z4[3]));
		mx = LS_MAX(bmax[b], mx);
		mn = LS_MIN(bmin[b], mn);
	}
	for (j = nb * LS_BLOCK; j < n; j++)
	{
		mn = LS_MIN(sf[j], mn);
		mx = LS_MAX(sf[j], mx);
	}
	if (!(mx >= mn))
		return -1;				/* NaN */
	/* T0: the blocks' maxima and the products after the blocks */
	for (b = 0; b < nb; b++)
		seg_reco_heap_offer(heap, &hn, p, bmax[b]);
	for (j = nb * LS_BLOCK; j < n; j++)
		seg_reco_heap_offer(heap, &hn, p, sf[j]);
	t0 = hn < p ? -INFINITY : heap[0];
	/* T: every group of the blocks that reach T0, and the products after */
	hn = 0;
	for (b = 0; b < nb; b++)
		if (bmax[b] >= t0)
		{
			uint32		mask = screen_mask(gmax + b * 16, t0, NULL, 0);

			while (mask != 0)
			{
				l = screen_low_bit(mask);
				mask &= mask - 1;
				seg_reco_heap_offer(heap, &hn, p, gmax[b * 16 + l]);
			}
		}
	for (j = nb * LS_BLOCK; j < n; j++)
		if (sf[j] >= t0)
			seg_reco_heap_offer(heap, &hn, p, sf[j]);
	if (hn < p)
		return -1;
	if (rest >= 0 && (!(rest < (double) heap[0] - e) || !(-rest > (double) mn + e)))
		return -2;
	/* the thresholds as floats, rounded outwards */
	thr = (double) heap[0] - 2 * e;
	tf = (float) thr;
	if ((double) tf > thr)
		tf = nextafterf(tf, -INFINITY);
	tmin = (double) mn + 2 * e;
	tlo = (float) tmin;
	if ((double) tlo < tmin)
		tlo = nextafterf(tlo, INFINITY);
	*sup = (double) heap[0] - e;
	sv.sf = sf;
	sv.tf = tf;
	sv.tlo = tlo;
	sv.yf = yf;
	sv.d = d;
	sv.x = x;
	sv.cand = cand;
	sv.exact = exact;
	sv.nc = 0;
	sv.cap = cap;
	sv.vlo = INFINITY;
	sv.vhi = -INFINITY;
	/* the groups that reach a bound, then the products after the blocks */
	for (b = 0; b < nb; b++)
	{
		uint32		mask;

		if (!(bmax[b] >= tf) && !(bmin[b] <= tlo))
			continue;
		mask = screen_mask(gmax + b * 16, tf, gmin + b * 16, tlo);
		while (mask != 0)
		{
			int64		q;

			l = screen_low_bit(mask);
			mask &= mask - 1;
			for (q = b * LS_BLOCK + l; q < (b + 1) * LS_BLOCK; q += 16)
				if (!screen_visit(&sv, q))
					return -1;
		}
	}
	for (j = nb * LS_BLOCK; j < n; j++)
		if (!screen_visit(&sv, j))
			return -1;
	nc = sv.nc;
	seg_reco_sort_candidates(cand, exact, nc);
	*lo = sv.vlo;
	*hi = sv.vhi;
	return nc;
}
