/*
 * als_foldin.c
 *      Folding customers into a stored ALS model: each given customer's
 *      factors solved again from their current interactions against the
 *      model's fixed product factors, written in place (issue 12, the
 *      incremental nightly refresh).
 *
 * The solve is the customer half-step of the exact solver of training,
 * seg_reco_als_solve_exact (als_train.c):
 *
 *     (Y^T Y + reg I + Y^T (C_u - I) Y) x_u = Y^T C_u p_u,  c = 1 + alpha r
 *
 * with the model's alpha and regularization, over the products the model
 * knows (a pair with a product trained after the model is left out, as
 * serving's fold-in does).  For a model trained with the CG solver this is
 * the point its three CG steps per iteration move towards: a new customer
 * has no previous factors to start CG from, and the exact solve is what
 * recommend_for already does for a customer without stored factors, so a
 * folded-in customer is served the list it was served before the fold-in
 * (implicit's recalculate_user solves exactly too).
 *
 * Customers are read and solved in chunks of FOLD_CHUNK: one query of the
 * model's source restricted to the chunk (customer_id = ANY, pushed down to
 * the (customer_id, ts) indexes), the solves, then one upsert and one
 * delete.  Memory: a chunk's pairs (the reading bounded by
 * maintenance_work_mem as in training) and the model's product factors
 * (cached per backend); scratch in a context reset after every chunk.
 * Everything runs on the backend's thread (the solves call BLAS, which
 * threads.h keeps off worker threads), with CHECK_FOR_INTERRUPTS() between
 * customers.  The product side (factors, popularity, version) is left as
 * it is: serving caches keyed by the version stay valid.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "als_model.h"
#include "als_train.h"
#include "guards.h"
#include "progress.h"

#define FOLD_CHUNK 4096

PG_FUNCTION_INFO_V1(seg_reco_als_fold_in);

/*
 * Lock the model's registry row (a retrain or another fold-in of the model
 * waits, and waits for us) and check that the model served to this
 * statement's snapshot is the one now locked: a retrain that committed
 * while we waited would otherwise get factors solved against the product
 * factors it replaced.
 */
static void
lock_model(const char *name, int64 version)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		v;

	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT (m.model OPERATOR(pg_catalog.->>) 'version')::pg_catalog.int8 "
							  "FROM seg_reco.models m WHERE m.name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "locking the model row failed");
	if (SPI_processed == 1)
	{
		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull && DatumGetInt64(v) == version)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("als model \"%s\" was retrained or deleted by another transaction", name),
			 errdetail("The fold-in started with version " INT64_FORMAT " of the model.", version),
			 errhint("Run seg_reco.als_fold_in again.")));
}

/* the ids among ids[0..n-1] that have factors in the model (ascending) */
static int64 *
known_ids(const char *name, ArrayType *ids, int *nknown)
{
	Oid			types[2] = {TEXTOID, INT8ARRAYOID};
	Datum		values[2];
	int64	   *out;
	uint64		i;

	MemoryContext cxt = CurrentMemoryContext;

	values[0] = CStringGetTextDatum(name);
	values[1] = PointerGetDatum(ids);
	if (SPI_execute_with_args("SELECT f.customer_id FROM seg_reco.als_customer_factors f "
							  "WHERE f.model OPERATOR(pg_catalog.=) $1 "
							  "AND f.customer_id OPERATOR(pg_catalog.=) ANY ($2) ORDER BY f.customer_id",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the stored customers failed");
	MemoryContextSwitchTo(cxt);
	out = palloc(sizeof(int64) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		out[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	*nknown = (int) SPI_processed;
	SPI_freetuptable(SPI_tuptable);
	return out;
}

typedef struct FoldCounts
{
	int64		inserted;
	int64		updated;
	int64		deleted;
	int64		unknown;		/* no interactions and no stored factors */
	int64		pairs;			/* interactions solved with */
	int64		pairs_unknown_product;	/* pairs with a product the model lacks */
} FoldCounts;

/* fold in the customers ids[0..n-1] (ascending, distinct) */
static void
fold_chunk(const SegRecoAlsModel *m, const int64 *ids, int n, FoldCounts *cnt)
{
	ArrayType  *arr = seg_reco_int8_array(ids, n);
	SegRecoPairs pairs;
	int64	   *known;
	int			nknown,
				kpos = 0,
				i,
				nsolved = 0,
				ngone = 0;
	int64		p = 0;
	int64	   *solved_ids = palloc(sizeof(int64) * n);
	int64	   *gone_ids = palloc(sizeof(int64) * n);
	double	   *x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) n * m->d);
	double	   *a = palloc(sizeof(double) * m->d * m->d);
	int32	   *idx = NULL;
	double	   *w = NULL;
	int			cap = 0;
	MemoryContext cxt = CurrentMemoryContext;

	known = known_ids(m->name, arr, &nknown);
	seg_reco_als_read_pairs_of(m->query, arr, m->custom_source, &pairs);

	for (i = 0; i < n; i++)
	{
		int64		id = ids[i];
		bool		is_known;
		int			h = 0;

		CHECK_FOR_INTERRUPTS();
		while (kpos < nknown && known[kpos] < id)
			kpos++;
		is_known = kpos < nknown && known[kpos] == id;
		/* the pairs come sorted by customer, then product */
		while (p < pairs.n && pairs.customer_id[p] < id)
			p++;
		for (; p < pairs.n && pairs.customer_id[p] == id; p++)
		{
			int			j = seg_reco_als_product_index(m, pairs.product_id[p]);

			if (j < 0)
			{
				cnt->pairs_unknown_product++;
				continue;
			}
			if (h == cap)
			{
				cap = Max(64, cap * 2);
				idx = idx == NULL ? palloc(sizeof(int32) * cap) : repalloc(idx, sizeof(int32) * cap);
				w = w == NULL ? palloc(sizeof(double) * cap) : repalloc(w, sizeof(double) * cap);
			}
			idx[h] = j;
			w[h] = pairs.weight[p];
			h++;
		}
		if (h == 0)
		{
			/* nothing left the model can use: the customer leaves the model */
			if (is_known)
				gone_ids[ngone++] = id;
			else
				cnt->unknown++;
			continue;
		}
		if (!seg_reco_als_solve_exact(m->y, m->d, m->yty_reg, idx, w, h, m->alpha, a,
									  x + (Size) nsolved * m->d))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("cannot fold in customer " INT64_FORMAT ": the least-squares system of model \"%s\" is singular",
							id, m->name),
					 errdetail("The model was trained with regularization %g.", m->regularization),
					 errhint("Retrain the model with a positive regularization, for example 0.01.")));
		solved_ids[nsolved++] = id;
		cnt->pairs += h;
		if (is_known)
			cnt->updated++;
		else
			cnt->inserted++;
	}
	CHECK_FOR_INTERRUPTS();
	seg_reco_als_upsert_customer_factors(m->name, m->d, nsolved, solved_ids, x);
	cnt->deleted += seg_reco_als_delete_customer_factors(m->name, ngone, gone_ids);
	MemoryContextSwitchTo(cxt);
}

/*
 * seg_reco.als_fold_in(model text, customer_ids bigint[]) RETURNS jsonb
 */
Datum
seg_reco_als_fold_in(PG_FUNCTION_ARGS)
{
	char	   *name;
	int64	   *ids;
	int			n,
				c;
	MemoryContext work,
				chunk,
				old;
	SegRecoAlsModel *m;
	FoldCounts	cnt;
	instr_time	t0,
				t;
	StringInfoData out;
	int			progress;
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : "customer_ids"),
				 errhint("Pass the model's name and the customers to fold in ('{}' for none).")));
	INSTR_TIME_SET_CURRENT(t0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	memset(&cnt, 0, sizeof(cnt));

	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco als_fold_in",
								 ALLOCSET_DEFAULT_SIZES);
	chunk = AllocSetContextCreate(work, "seg_reco als_fold_in chunk", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	ids = seg_reco_distinct_ids(PG_GETARG_ARRAYTYPE_P(1), "customer_ids", &n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(work);
	/* the model (an error for an unknown one or another kind), then its row locked */
	m = seg_reco_als_model_get(name);
	MemoryContextSwitchTo(work);
	lock_model(name, m->version);
	MemoryContextSwitchTo(work);

	progress = seg_reco_progress_begin("als_fold_in", 1);
	seg_reco_progress_step(progress, "solve", n, "customers", psprintf("model %s", name));
	for (c = 0; c < n; c += FOLD_CHUNK)
	{
		int			nc = Min(FOLD_CHUNK, n - c);

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(chunk);
		fold_chunk(m, ids + c, nc, &cnt);
		MemoryContextSwitchTo(work);
		MemoryContextReset(chunk);
		seg_reco_progress_update(c + nc);
	}

	/* the model's customer count; its version (the product side) stays */
	if (cnt.inserted > 0 || cnt.deleted > 0)
	{
		Oid			types[2] = {TEXTOID, INT8OID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(name);
		values[1] = Int64GetDatum(cnt.inserted - cnt.deleted);
		if (SPI_execute_with_args("UPDATE seg_reco.models m SET model = m.model OPERATOR(pg_catalog.||) "
								  "pg_catalog.jsonb_build_object('customers', "
								  "(m.model OPERATOR(pg_catalog.->>) 'customers')::pg_catalog.int8 "
								  "OPERATOR(pg_catalog.+) $2) WHERE m.name OPERATOR(pg_catalog.=) $1",
								  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "updating the model row failed");
	}
	MemoryContextSwitchTo(work);

	INSTR_TIME_SET_CURRENT(t);
	INSTR_TIME_SUBTRACT(t, t0);
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"model\": ");
	escape_json(&out, name);
	appendStringInfo(&out,
					 ", \"customers\": %d, \"updated\": " INT64_FORMAT
					 ", \"inserted\": " INT64_FORMAT ", \"deleted\": " INT64_FORMAT
					 ", \"without_interactions\": " INT64_FORMAT ", \"interactions\": " INT64_FORMAT
					 ", \"interactions_unknown_product\": " INT64_FORMAT ", \"seconds\": %.4f}",
					 n, cnt.updated, cnt.inserted, cnt.deleted, cnt.unknown, cnt.pairs,
					 cnt.pairs_unknown_product, INSTR_TIME_GET_DOUBLE(t));
	SPI_finish();
	seg_reco_progress_end(progress);
	MemoryContextSwitchTo(old);
	result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
	MemoryContextDelete(work);
	PG_RETURN_JSONB_P(result);
}
