/*
 * als_model.c
 *      Writing ALS models atomically and caching their product factors per
 *      backend.
 *
 * Writing: one call stores the registry row in seg_reco.models (kind 'als',
 * a fresh version from seg_reco.als_model_version_seq) and replaces the
 * model's rows in seg_reco.als_customer_factors and
 * seg_reco.als_product_factors.  Everything happens in the caller's
 * transaction: other sessions go on reading the old model until it commits,
 * and a rollback leaves the old model in place.  Factors are stored as
 * float4[] (as the implicit library keeps them); the factor arrays travel to
 * the server as one flat array per table and are cut into rows by SQL, so a
 * model of 10,000 customers is written by two statements, not 10,000.
 *
 * Reading: seg_reco_als_model_get() reads the version of the model visible
 * to the current snapshot (one index lookup) and reloads the product
 * factors, Y^T Y + reg I and the popularity order only when the cached
 * version differs.  The cache lives in a child of CacheMemoryContext; a new
 * entry is built in a transient context and attached only once complete,
 * so an error during loading leaves no half-built entry behind.  (Every SPI
 * call ends in SPI's procedure context, so the loader switches back to the
 * entry's context after each one.)
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "als_model.h"
#include "citus.h"
#include "linalg.h"
#include "nbr.h"

typedef struct CacheEntry
{
	struct CacheEntry *next;
	MemoryContext ctx;			/* holds the model and its arrays */
	SegRecoAlsModel *model;
} CacheEntry;

static MemoryContext cache_ctx = NULL;
static CacheEntry *cache_head = NULL;

static SPIPlanPtr plan_version = NULL;
static SPIPlanPtr plan_header = NULL;
static SPIPlanPtr plan_products = NULL;
static SPIPlanPtr plan_customer = NULL;

/*
 * seg_reco_keep_plan: the prepared plan in *slot, preparing and keeping it
 * (for the life of the backend) on first use.  Shared by every file that
 * runs the same SPI query on each call.
 */
SPIPlanPtr
seg_reco_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

/* a one-dimensional float4[] of n values (v, or vf if v is NULL), without NULLs */
static ArrayType *
float4_array_of(const double *v, const float *vf, int64 n)
{
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float4) * (Size) n;
	ArrayType  *a;
	float4	   *out;
	int64		i;

	if (bytes > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("als model too large to store: %lld factor values", (long long) n),
				 errhint("Use fewer factors.")));
	a = (ArrayType *) palloc0(bytes);
	SET_VARSIZE(a, bytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = FLOAT4OID;
	ARR_DIMS(a)[0] = (int) n;
	ARR_LBOUND(a)[0] = 1;
	out = (float4 *) ARR_DATA_PTR(a);
	for (i = 0; i < n; i++)
		out[i] = v != NULL ? (float4) v[i] : vf[i];
	return a;
}

static ArrayType *
int8_array(const int64 *v, int64 n)
{
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(int64) * (Size) n;
	ArrayType  *a;

	if (bytes > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("als model too large to store: %lld ids", (long long) n)));
	a = (ArrayType *) palloc0(bytes);
	SET_VARSIZE(a, bytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = INT8OID;
	ARR_DIMS(a)[0] = (int) n;
	ARR_LBOUND(a)[0] = 1;
	memcpy(ARR_DATA_PTR(a), v, sizeof(int64) * (Size) n);
	return a;
}

static ArrayType *
float8_array(const double *v, int64 n)
{
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(double) * (Size) n;
	ArrayType  *a = (ArrayType *) palloc0(bytes);

	SET_VARSIZE(a, bytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = FLOAT8OID;
	ARR_DIMS(a)[0] = (int) n;
	ARR_LBOUND(a)[0] = 1;
	memcpy(ARR_DATA_PTR(a), v, sizeof(double) * (Size) n);
	return a;
}

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expect)
		elog(ERROR, "SPI_execute_with_args failed (%s): %s", SPI_result_code_string(rc), sql);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Delete the factor rows of model name whose id (column col of table) is not
 * among ids[0..n-1].  The stored ids come back sorted in one array, the ids
 * that are gone are found by a merge with a sorted copy of ids, and only
 * those rows are deleted by primary key.  No join: the cost is linear in the
 * rows, whatever the planner's statistics say.  (An anti-join of the table
 * with unnest(ids) became a nested loop over all ids while the statistics of
 * freshly written rows were stale: a retrain under the same name took 36
 * times as long as the first training at 10x the demo scale.)
 */
static void
delete_gone_ids(const char *table, const char *col, Datum name, const int64 *ids, int64 n)
{
	Oid			t1[1] = {TEXTOID};
	Datum		v1[1] = {name};
	StringInfoData sql;
	bool		isnull;
	Datum		d;
	ArrayType  *stored;
	const int64 *old;
	int64		nold,
				i,
				j,
				ngone = 0;
	int64	   *sorted,
			   *gone;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.array_agg(f.%s ORDER BY f.%s) FROM seg_reco.%s f "
					 "WHERE f.model OPERATOR(pg_catalog.=) $1",
					 col, col, table);
	spi_exec(sql.data, 1, t1, v1, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;					/* no stored rows */
	stored = DatumGetArrayTypeP(d);
	if (ARR_NDIM(stored) != 1 || ARR_HASNULL(stored) || ARR_ELEMTYPE(stored) != INT8OID)
		elog(ERROR, "unexpected id array from seg_reco.%s", table);
	old = (const int64 *) ARR_DATA_PTR(stored);
	nold = ARR_DIMS(stored)[0];

	sorted = palloc(sizeof(int64) * Max(n, 1));
	memcpy(sorted, ids, sizeof(int64) * n);
	qsort(sorted, n, sizeof(int64), cmp_int64);
	gone = palloc(sizeof(int64) * Max(nold, 1));
	for (i = 0, j = 0; i < nold; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		while (j < n && sorted[j] < old[i])
			j++;
		if (j >= n || sorted[j] != old[i])
			gone[ngone++] = old[i];
	}
	pfree(sorted);
	if (ngone > 0)
	{
		Oid			t2[2] = {TEXTOID, INT8ARRAYOID};
		Datum		v2[2];

		v2[0] = name;
		v2[1] = PointerGetDatum(int8_array(gone, ngone));
		resetStringInfo(&sql);
		appendStringInfo(&sql,
						 "DELETE FROM seg_reco.%s f WHERE f.model OPERATOR(pg_catalog.=) $1 "
						 "AND f.%s OPERATOR(pg_catalog.=) ANY ($2)",
						 table, col);
		spi_exec(sql.data, 2, t2, v2, SPI_OK_DELETE);
		pfree(DatumGetPointer(v2[1]));
	}
	pfree(gone);
	pfree(sql.data);
}

/*
 * Customers' factor rows (x, or xf if x is NULL), upserted ALS_SAVE_BATCH
 * customers a statement: the arrays passed stay small (8 MB at 64 factors)
 * whatever the customer count, and no factor array reaches the 1 GB limit
 * of a value.
 */
#define ALS_SAVE_BATCH 32768

static void
upsert_customer_factors(const char *name, int d, int64 n, const int64 *customer_id,
						const double *x, const float *xf)
{
	Oid			types[4] = {TEXTOID, INT8ARRAYOID, FLOAT4ARRAYOID, INT4OID};
	Datum		values[4];
	int64		b0;

	if (n == 0)
		return;
	values[0] = CStringGetTextDatum(name);
	values[3] = Int32GetDatum(d);
	for (b0 = 0; b0 < n; b0 += ALS_SAVE_BATCH)
	{
		int64		nb = Min((int64) ALS_SAVE_BATCH, n - b0);

		CHECK_FOR_INTERRUPTS();
		values[1] = PointerGetDatum(int8_array(customer_id + b0, nb));
		values[2] = PointerGetDatum(float4_array_of(x != NULL ? x + b0 * d : NULL,
													x != NULL ? NULL : xf + b0 * d, nb * d));
		spi_exec("INSERT INTO seg_reco.als_customer_factors AS f (model, customer_id, factors) "
			 "SELECT $1, $2[g], $3[(g - 1) * $4 + 1 : g * $4] "
			 "FROM pg_catalog.generate_series(1, pg_catalog.cardinality($2)) g "
			 "ON CONFLICT (model, customer_id) DO UPDATE SET factors = excluded.factors",
			 4, types, values, SPI_OK_INSERT);
		pfree(DatumGetPointer(values[1]));
		pfree(DatumGetPointer(values[2]));
	}
}

void
seg_reco_als_upsert_customer_factors(const char *name, int d, int64 n, const int64 *customer_id,
									 const double *x)
{
	upsert_customer_factors(name, d, n, customer_id, x, NULL);
}

int64
seg_reco_als_delete_customer_factors(const char *name, int64 n, const int64 *customer_id)
{
	Oid			types[2] = {TEXTOID, INT8ARRAYOID};
	Datum		values[2];
	int64		deleted;

	if (n == 0)
		return 0;
	values[0] = CStringGetTextDatum(name);
	values[1] = PointerGetDatum(int8_array(customer_id, n));
	spi_exec("DELETE FROM seg_reco.als_customer_factors f WHERE f.model OPERATOR(pg_catalog.=) $1 "
			 "AND f.customer_id OPERATOR(pg_catalog.=) ANY ($2)",
			 2, types, values, SPI_OK_DELETE);
	deleted = (int64) SPI_processed;
	pfree(DatumGetPointer(values[1]));
	return deleted;
}

int64
seg_reco_als_model_save(const char *name, int d,
						int64 n_customers, const int64 *customer_id, const float *x,
						int n_products, const int64 *product_id, const float *y,
						const double *popularity,
						const char *params_json, const char *metrics_json)
{
	Oid			t1[1] = {TEXTOID};
	Datum		v1[1];
	int64		version;
	bool		isnull;
	StringInfoData model;

	v1[0] = CStringGetTextDatum(name);

	/*
	 * Refuse to overwrite a model of another kind; lock the row meanwhile.
	 * als_train (SQL) has already refused it or, with replace => true,
	 * deleted it before training; this catches a model stored under the name
	 * by another session since then, and guards the 0.1.0 als_train.
	 */
	spi_exec("SELECT m.kind, m.trained_at::pg_catalog.text FROM seg_reco.models m WHERE m.name = $1 FOR UPDATE",
			 1, t1, v1, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		char	   *kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *trained = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		if (strcmp(kind, "als") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("model \"%s\" already exists with kind %s", name, kind),
					 errdetail("The %s model \"%s\" was trained at %s; als_train stores models of kind als and replaces a model of another kind only when asked to.",
							   kind, name, trained),
					 errhint("Choose another name, or pass replace => true to replace the %s model (seg_reco 0.2.0 and later).",
							 kind)));
	}

	spi_exec("SELECT pg_catalog.nextval('seg_reco.als_model_version_seq')",
			 0, NULL, NULL, SPI_OK_SELECT);
	version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	initStringInfo(&model);
	appendStringInfo(&model,
					 "{\"version\": " INT64_FORMAT ", \"factors\": %d, \"customers\": " INT64_FORMAT
					 ", \"products\": %d, \"customer_factors\": \"seg_reco.als_customer_factors\""
					 ", \"product_factors\": \"seg_reco.als_product_factors\"}",
					 version, d, n_customers, n_products);

	{
		Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[4];

		values[0] = v1[0];
		values[1] = CStringGetTextDatum(params_json);
		values[2] = CStringGetTextDatum(metrics_json);
		values[3] = CStringGetTextDatum(model.data);
		spi_exec("INSERT INTO seg_reco.models AS m (name, kind, params, metrics, trained_at, model) "
				 "VALUES ($1, 'als', $2::pg_catalog.jsonb, $3::pg_catalog.jsonb, pg_catalog.now(), "
				 "$4::pg_catalog.jsonb) "
				 "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, params = excluded.params, "
				 "metrics = excluded.metrics, trained_at = excluded.trained_at, model = excluded.model",
				 4, types, values, SPI_OK_INSERT);
	}

	/*
	 * Replace the factors: rows of ids no longer in the model go, the others
	 * are upserted.  A retrain under the same name (the nightly job) thus
	 * updates rows in place, which skips the foreign-key check on model that
	 * every inserted row pays.
	 */
	CHECK_FOR_INTERRUPTS();
	delete_gone_ids("als_customer_factors", "customer_id", v1[0], customer_id, n_customers);
	upsert_customer_factors(name, d, n_customers, customer_id, NULL, x);
	CHECK_FOR_INTERRUPTS();
	{
		Oid			types[5] = {TEXTOID, INT8ARRAYOID, FLOAT4ARRAYOID, INT4OID, FLOAT8ARRAYOID};
		Datum		values[5];

		values[0] = v1[0];
		values[1] = PointerGetDatum(int8_array(product_id, n_products));
		values[2] = PointerGetDatum(float4_array_of(NULL, y, (int64) n_products * d));
		values[3] = Int32GetDatum(d);
		values[4] = PointerGetDatum(float8_array(popularity, n_products));
		delete_gone_ids("als_product_factors", "product_id", v1[0], product_id, n_products);
		spi_exec("INSERT INTO seg_reco.als_product_factors AS f (model, product_id, factors, popularity) "
				 "SELECT $1, $2[g], $3[(g - 1) * $4 + 1 : g * $4], $5[g] "
				 "FROM pg_catalog.generate_series(1, pg_catalog.cardinality($2)) g "
				 "ON CONFLICT (model, product_id) DO UPDATE SET factors = excluded.factors, "
				 "popularity = excluded.popularity",
				 5, types, values, SPI_OK_INSERT);
	}
	return version;
}

/* copy a stored float4[] of d values into x, checking its shape */
static void
read_factor_array(Datum datum, int d, double *x, const char *what, int64 id)
{
	ArrayType  *a = DatumGetArrayTypeP(datum);
	float4	   *v;
	int			i;

	if (ARR_NDIM(a) != 1 || ARR_ELEMTYPE(a) != FLOAT4OID || ARR_HASNULL(a) ||
		ARR_DIMS(a)[0] != d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored factors of %s " INT64_FORMAT " are malformed", what, id),
				 errdetail("Expected a float4[] of %d values without NULLs.", d),
				 errhint("Retrain the model with seg_reco.als_train.")));
	v = (float4 *) ARR_DATA_PTR(a);
	for (i = 0; i < d; i++)
		x[i] = v[i];
}

static int
popularity_cmp(const void *pa, const void *pb, void *arg)
{
	const SegRecoAlsModel *m = (const SegRecoAlsModel *) arg;
	int32		a = *(const int32 *) pa;
	int32		b = *(const int32 *) pb;

	if (m->popularity[a] != m->popularity[b])
		return m->popularity[a] > m->popularity[b] ? -1 : 1;
	return a < b ? -1 : (a > b ? 1 : 0);
}

static SegRecoAlsModel *
load_model(const char *name, int64 version, MemoryContext ctx)
{
	MemoryContext old = MemoryContextSwitchTo(ctx);
	SegRecoAlsModel *m = palloc0(sizeof(SegRecoAlsModel));
	Oid			t1[1] = {TEXTOID};
	Datum		v1[1];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	int			rc;
	int			i,
				j;
	SPITupleTable *tt;

	m->name = pstrdup(name);
	m->version = version;
	v1[0] = CStringGetTextDatum(name);

	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_header,
									"SELECT (m.model OPERATOR(pg_catalog.->>) 'factors')::pg_catalog.int4, "
									"(m.model OPERATOR(pg_catalog.->>) 'customers')::pg_catalog.int8, "
									"(m.params OPERATOR(pg_catalog.->>) 'alpha')::pg_catalog.float8, "
									"(m.params OPERATOR(pg_catalog.->>) 'regularization')::pg_catalog.float8, "
									"m.params OPERATOR(pg_catalog.->>) 'query', "
									"(m.params OPERATOR(pg_catalog.->>) 'custom_source')::pg_catalog.bool "
									"FROM seg_reco.models m WHERE m.name OPERATOR(pg_catalog.=) $1",
									1, t1),
						  v1, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "als model \"%s\" vanished while loading", name);
	/* SPI calls return to SPI's procedure context: come back to ours */
	MemoryContextSwitchTo(ctx);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	m->d = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	if (isnull || m->d < 1 || m->d > 4096)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("als model \"%s\" has no valid factor count", name),
				 errhint("Retrain the model with seg_reco.als_train.")));
	m->n_customers = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	m->alpha = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
	m->regularization = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
	m->query = SPI_getvalue(tup, desc, 5);
	m->custom_source = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	if (m->query == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("als model \"%s\" has no source query", name),
				 errhint("Retrain the model with seg_reco.als_train.")));

	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_products,
									"SELECT p.product_id, p.factors, p.popularity "
									"FROM seg_reco.als_product_factors p "
									"WHERE p.model OPERATOR(pg_catalog.=) $1 ORDER BY p.product_id",
									1, t1),
						  v1, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading product factors failed: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(ctx);
	tt = SPI_tuptable;
	if (SPI_processed < 1 || SPI_processed > INT_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("als model \"%s\" has no product factors", name),
				 errhint("Retrain the model with seg_reco.als_train.")));
	m->n_products = (int) SPI_processed;
	m->product_id = palloc(sizeof(int64) * m->n_products);
	m->y = palloc(sizeof(double) * (Size) m->n_products * m->d);
	m->yf = palloc(sizeof(float) * (Size) m->n_products * m->d);
	m->y_norm = palloc(sizeof(double) * m->n_products);
	m->popularity = palloc(sizeof(double) * m->n_products);
	m->pop_order = palloc(sizeof(int32) * m->n_products);
	for (i = 0; i < m->n_products; i++)
	{
		double	   *yi = m->y + (Size) i * m->d;
		double		s = 0.0;

		m->product_id[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		read_factor_array(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull), m->d, yi,
						  "product", m->product_id[i]);
		m->popularity[i] = DatumGetFloat8(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		for (j = 0; j < m->d; j++)
		{
			m->yf[(Size) i * m->d + j] = (float) yi[j];	/* stored as float4: exact */
			s += yi[j] * yi[j];
		}
		m->y_norm[i] = sqrt(s);
		m->pop_order[i] = i;
	}
	SPI_freetuptable(tt);
	qsort_arg(m->pop_order, m->n_products, sizeof(int32), popularity_cmp, m);

	m->yty_reg = palloc0(sizeof(double) * m->d * m->d);
	seg_reco_blas_begin();
	seg_reco_syrk_tn(m->y, m->n_products, m->d, 1.0, m->yty_reg);
	for (i = 0; i < m->d; i++)
		m->yty_reg[i * m->d + i] += m->regularization;

	MemoryContextSwitchTo(old);
	return m;
}

SegRecoAlsModel *
seg_reco_als_model_get(const char *name)
{
	return seg_reco_als_model_get_serving(name, NULL);
}

SegRecoAlsModel *
seg_reco_als_model_get_serving(const char *name, char **as_of_option)
{
	return seg_reco_als_model_get_serving_nb(name, as_of_option, NULL, NULL);
}

SegRecoAlsModel *
seg_reco_als_model_get_serving_nb(const char *name, char **as_of_option, NbParams *nb, bool *has_nb)
{
	Oid			t1[1] = {TEXTOID};
	Datum		v1[1];
	int			rc;
	bool		isnull;
	int64		version;
	char	   *kind;
	CacheEntry *e;
	MemoryContext ctx;

	v1[0] = CStringGetTextDatum(name);
	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_version,
									"SELECT m.kind, (m.model OPERATOR(pg_catalog.->>) 'version')::pg_catalog.int8, "
									"m.params OPERATOR(pg_catalog.->) 'options' OPERATOR(pg_catalog.->>) 'as_of', "
									SEG_RECO_NB_PARAMS_SQL
									" FROM seg_reco.models m WHERE m.name OPERATOR(pg_catalog.=) $1",
									1, t1),
						  v1, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.models failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		seg_reco_citus_model_missing("als", name);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("als model \"%s\" does not exist", name),
				 errdetail("No row of seg_reco.models has this name."),
				 errhint("Train it with: SELECT seg_reco.als_train('%s');", name)));
	}
	kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(kind, "als") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not als", name, kind),
				 errhint("Pass the name of a model trained by seg_reco.als_train.")));
	version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("als model \"%s\" has no version", name),
				 errhint("Retrain the model with seg_reco.als_train.")));
	if (as_of_option != NULL)
		*as_of_option = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (nb != NULL)
		*has_nb = seg_reco_nb_read_params(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, nb);
	SPI_freetuptable(SPI_tuptable);

	for (e = cache_head; e != NULL; e = e->next)
		if (strcmp(e->model->name, name) == 0)
			break;
	if (e != NULL && e->model->version == version)
		return e->model;

	/* build the new entry in a transient context, attach it when complete */
	ctx = AllocSetContextCreate(CurrentMemoryContext, "seg_reco als model",
								ALLOCSET_DEFAULT_SIZES);
	{
		SegRecoAlsModel *m = load_model(name, version, ctx);

		if (cache_ctx == NULL)
			cache_ctx = AllocSetContextCreate(CacheMemoryContext, "seg_reco als model cache",
											  ALLOCSET_SMALL_SIZES);
		MemoryContextSetParent(ctx, cache_ctx);
		if (e != NULL)
		{
			MemoryContextDelete(e->ctx);
			e->ctx = ctx;
			e->model = m;
		}
		else
		{
			e = MemoryContextAlloc(cache_ctx, sizeof(CacheEntry));
			e->ctx = ctx;
			e->model = m;
			e->next = cache_head;
			cache_head = e;
		}
		return m;
	}
}

bool
seg_reco_als_customer_factors(const SegRecoAlsModel *m, int64 customer_id, double *x)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	bool		isnull;
	Datum		d;
	int			rc;

	values[0] = CStringGetTextDatum(m->name);
	values[1] = Int64GetDatum(customer_id);
	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_customer,
									"SELECT c.factors FROM seg_reco.als_customer_factors c "
									"WHERE c.model OPERATOR(pg_catalog.=) $1 "
									"AND c.customer_id OPERATOR(pg_catalog.=) $2",
									2, types),
						  values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading customer factors failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	read_factor_array(d, m->d, x, "customer", customer_id);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

int
seg_reco_als_product_index(const SegRecoAlsModel *m, int64 product_id)
{
	int			lo = 0,
				hi = m->n_products - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (m->product_id[mid] == product_id)
			return mid;
		if (m->product_id[mid] < product_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}
