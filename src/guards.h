/*
 * guards.h
 *      Input checks shared by every seg_reco entry point, option parsing
 *      from jsonb, and seeded PRNG streams (guards.c).
 *
 * Small inline functions so that each SQL-callable function states its
 * checks in one line and every error carries an SQLSTATE and a hint.
 */
#ifndef SEG_RECO_GUARDS_H
#define SEG_RECO_GUARDS_H

#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include <math.h>

/* A value a user supplied must be a finite number. */
static inline void
seg_reco_check_finite(double value, const char *what)
{
	if (unlikely(isnan(value) || isinf(value)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must be a finite number, got %s", what,
						isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")),
				 errhint("Filter out or repair rows with NaN or infinite values.")));
}

/*
 * An argument of a non-STRICT function (one with defaults that must be
 * checked one by one) must not be NULL; the message names it.
 */
#define SEG_RECO_ARG_NOT_NULL(i, what) \
	do { \
		if (PG_ARGISNULL(i)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("%s must not be NULL", what), \
					 errhint("Omit the argument to use its default."))); \
	} while (0)

/*
 * The aggregate context of an aggregate support function; outside an
 * aggregate an error naming it ("<fname> <role> function", e.g.
 * "kmeans_train final function").
 */
static inline MemoryContext
seg_reco_agg_context(FunctionCallInfo fcinfo, const char *fname, const char *role)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s %s function can only be called as part of an aggregate", fname, role)));
	return aggcxt;
}

/* A float8[] of at most one dimension; returns its number of elements. */
static inline int
seg_reco_float8_array_len(ArrayType *arr, const char *what)
{
	if (ARR_ELEMTYPE(arr) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a float8[] array", what)));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	return ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
}

/* An array must not contain NULL elements. */
static inline void
seg_reco_check_no_nulls(ArrayType *arr, const char *what)
{
	if (ARR_HASNULL(arr) && array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", what),
				 errhint("Replace NULLs with a value (e.g. coalesce(x, 0)) or filter such rows out.")));
}

/* Every one of n values must be finite; the message names the element. */
static inline void
seg_reco_check_finite_array(const double *v, int n, const char *what)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (unlikely(isnan(v[i]) || isinf(v[i])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s must hold finite numbers, element %d is %s", what, i + 1,
							isnan(v[i]) ? "NaN" : (v[i] > 0 ? "Infinity" : "-Infinity")),
					 errhint("Filter out or repair rows with NaN or infinite values.")));
	}
}

/*
 * Options in a jsonb object argument: seg_reco_options_begin checks that
 * the argument is an object (fname and the allowed keys go into the
 * message), seg_reco_options_next steps through its keys, and the
 * seg_reco_opt_* functions read one value or fail with a message naming
 * its key.
 */
extern JsonbIterator *seg_reco_options_begin(Jsonb *options, const char *fname,
											 const char *allowed);
extern bool seg_reco_options_next(JsonbIterator **it, char **key, JsonbValue *v);
extern void seg_reco_opt_unknown(const char *fname, const char *key,
								 const char *allowed) pg_attribute_noreturn();
extern void seg_reco_opt_bad(const char *key, const char *why) pg_attribute_noreturn();
extern double seg_reco_opt_number(JsonbValue *v, const char *key);
extern double seg_reco_opt_nonneg(JsonbValue *v, const char *key);
extern int64 seg_reco_opt_int(JsonbValue *v, const char *key, int64 lo, int64 hi);
extern bool seg_reco_opt_bool(JsonbValue *v, const char *key);

/* A private PRNG stream from a user's seed (any bigint). */
static inline void
seg_reco_prng_seed(pg_prng_state *rng, int64 seed)
{
	pg_prng_seed(rng, (uint64) seed);
}

/*
 * A seeded sample of m of the row indices 0..n-1 without replacement
 * (partial Fisher-Yates): the first m of the n returned entries, in the
 * order drawn.
 */
extern int64 *seg_reco_sample_indices(int64 n, int64 m, pg_prng_state *rng);

/*
 * The distinct ids of a bigint[] argument (any dimensions), ascending;
 * *n := their count.  A NULL element is an error naming the argument what.
 */
extern int64 *seg_reco_distinct_ids(ArrayType *arr, const char *what, int *n);

/* a one-dimensional bigint[] of ids[0..n-1] */
extern ArrayType *seg_reco_int8_array(const int64 *ids, int n);

#endif							/* SEG_RECO_GUARDS_H */
