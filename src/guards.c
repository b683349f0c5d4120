/*
 * guards.c
 *      The out-of-line part of guards.h: option parsing from a jsonb
 *      argument and seeded samples of row indices.  The small checks every
 *      entry point makes are static inline in guards.h.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "guards.h"
#include "memory.h"

/* ======================================================================
 * Options from a jsonb object
 * ====================================================================== */

JsonbIterator *
seg_reco_options_begin(Jsonb *options, const char *fname, const char *allowed)
{
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: options must be a JSON object", fname),
				 errhint("Known options: %s.", allowed)));
	return JsonbIteratorInit(&options->root);
}

/* the next key (palloc'd) and its value; false after the last */
bool
seg_reco_options_next(JsonbIterator **it, char **key, JsonbValue *v)
{
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, v, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		*key = pnstrdup(v->val.string.val, v->val.string.len);
		(void) JsonbIteratorNext(it, v, true);
		return true;
	}
	return false;
}

void
seg_reco_opt_unknown(const char *fname, const char *key, const char *allowed)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: unknown option \"%s\"", fname, key),
			 errhint("Known options: %s.", allowed)));
}

void
seg_reco_opt_bad(const char *key, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"%s\"", key),
			 errdetail("%s", why)));
}

double
seg_reco_opt_number(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		seg_reco_opt_bad(key, "Expected a number.");
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/* a finite number >= 0 */
double
seg_reco_opt_nonneg(JsonbValue *v, const char *key)
{
	double		x = seg_reco_opt_number(v, key);

	if (!(x >= 0.0) || isinf(x))
		seg_reco_opt_bad(key, "Expected a finite number >= 0.");
	return x;
}

/* an integer between lo and hi */
int64
seg_reco_opt_int(JsonbValue *v, const char *key, int64 lo, int64 hi)
{
	double		x = seg_reco_opt_number(v, key);

	if (x != floor(x) || x < (double) lo || x > (double) hi)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "Expected an integer between " INT64_FORMAT " and " INT64_FORMAT ".", lo, hi);
		seg_reco_opt_bad(key, msg);
	}
	return (int64) x;
}

bool
seg_reco_opt_bool(JsonbValue *v, const char *key)
{
	if (v->type != jbvBool)
		seg_reco_opt_bad(key, "Expected true or false.");
	return v->val.boolean;
}

/* ======================================================================
 * Seeded samples
 * ====================================================================== */

int64 *
seg_reco_sample_indices(int64 n, int64 m, pg_prng_state *rng)
{
	int64	   *idx = seg_reco_alloc_huge(sizeof(int64) * n);
	int64		i;

	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = 0; i < m; i++)
	{
		int64		j = i + (int64) pg_prng_uint64_range(rng, 0, (uint64) (n - 1 - i));
		int64		t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	return idx;
}

/* ======================================================================
 * Arrays of ids
 * ====================================================================== */

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return (x > y) - (x < y);
}

int64 *
seg_reco_distinct_ids(ArrayType *arr, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems,
				i,
				k = 0;
	int64	   *ids;

	deconstruct_array(arr, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE,
					  &elems, &nulls, &nelems);
	ids = palloc(sizeof(int64) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what),
					 errdetail("Element %d of the array is NULL.", i + 1),
					 errhint("Filter the NULLs out, for example with array_remove(ids, NULL).")));
		ids[i] = DatumGetInt64(elems[i]);
		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
	}
	qsort(ids, nelems, sizeof(int64), cmp_int64);
	for (i = 0; i < nelems; i++)
		if (i == 0 || ids[i] != ids[k - 1])
			ids[k++] = ids[i];
	pfree(elems);
	pfree(nulls);
	*n = k;
	return ids;
}

ArrayType *
seg_reco_int8_array(const int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	ArrayType  *a;
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	a = construct_array(d, n, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE);
	pfree(d);
	return a;
}
