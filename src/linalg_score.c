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
	panels = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(np * d * 8, 1));
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
