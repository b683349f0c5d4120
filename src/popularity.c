/*
 * popularity.c
 *      Segment popularity in one pass (issue 12): the rows of
 *      seg_reco.segment_popularity for one or more windows of days from a
 *      single grouped read of the lines.
 *
 * seg_reco._segment_popularity_rows(starts, ends, top_ns, years) returns,
 * for each window w = 1..n ([starts[w], ends[w]), its top_n, the year of
 * its age bands), the rows of segment_popularity that the reference
 * statement (pg_temp.fill_segment_popularity_ref in test/sql/coldstart.sql:
 * build_popularity's SQL before 0.2.0's one read) writes for (ends[w],
 * days, top_ns[w], years[w]), with the window's number in front:
 *   - the (customer, product) pairs of the buys (amount > 0, a customer,
 *     an active product) in the union of the windows are read once,
 *     grouped by SQL, with a flag per window (bought in it);
 *   - each customer's demographic bands (age as of each window's year,
 *     household, county, tier; 'unknown' for a customer missing from
 *     seg_reco.customers) name its segment at level 4, whose wider levels
 *     3..0 drop the tier, the county, the household, the age;
 *   - a hash of (segment, product) counts the buyers; a segment's buyers
 *     are its customers with a buy in the window;
 *   - per segment the products by buyers descending, then product id:
 *     rank; level 0 keeps every product, levels 1-4 the first top_n.
 * Scratch memory: a private context deleted before return; the counts hash
 * holds one entry per (segment, product) bought, the customers one small
 * entry per customer.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "hash64.h"

#define SP_MAXWIN	4
#define SP_LEVELS	5
#define SP_BATCH	10000
#define SP_NCOLS	11


/* ---------- interned strings: text -> small id ---------- */
typedef struct SpStr
{
	const char *s;
	char		status;
	int32		id;
} SpStr;

#define SH_PREFIX spstr
#define SH_ELEMENT_TYPE SpStr
#define SH_KEY_TYPE const char *
#define SH_KEY s
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- segments: (window, level, bands) -> id ---------- */
typedef struct SpSegKey
{
	int32		win;
	int32		level;
	int32		band[4];		/* age, household, county, tier; '*' when dropped */
} SpSegKey;

typedef struct SpSegEnt
{
	SpSegKey	key;
	char		status;
	int32		id;
} SpSegEnt;

#define SH_PREFIX spseg
#define SH_ELEMENT_TYPE SpSegEnt
#define SH_KEY_TYPE SpSegKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) &(k), sizeof(SpSegKey))
#define SH_EQUAL(tb, a, b) (memcmp(&(a), &(b), sizeof(SpSegKey)) == 0)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- customers: id -> level-4 segment per window ---------- */
typedef struct SpCust
{
	int64		id;
	char		status;
	uint8		buyer;			/* bit w: counted among window w's buyers */
	int32		seg4[SP_MAXWIN];
} SpCust;

#define SH_PREFIX spcust
#define SH_ELEMENT_TYPE SpCust
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) ((uint32) seg_reco_mix64((uint64) (key)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- buyers of (segment, product) ---------- */
typedef struct SpCountKey
{
	int64		product;
	int32		seg;
} SpCountKey;

typedef struct SpCount
{
	SpCountKey	key;
	char		status;
	int32		n;
} SpCount;

#define SH_PREFIX spcnt
#define SH_ELEMENT_TYPE SpCount
#define SH_KEY_TYPE SpCountKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((uint32) seg_reco_mix64((uint64) (k).product * SEG_RECO_SPLITMIX_GAMMA ^ (uint64) (uint32) (k).seg))
#define SH_EQUAL(tb, a, b) ((a).product == (b).product && (a).seg == (b).seg)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* a segment: its key, its buyers, the segment ids of its levels (level 4 only) */
typedef struct SpSeg
{
	SpSegKey	key;
	int32		buyers;
	int32		up[SP_LEVELS];
} SpSeg;

typedef struct SpRun
{
	MemoryContext mcxt;
	spstr_hash *strs;
	Datum	   *strtext;		/* interned id -> text datum */
	int			nstr;
	int			strcap;
	spseg_hash *segidx;
	SpSeg	   *segs;
	int			nseg;
	int			segcap;
	int32		star;			/* the id of '*' */
	int32		unknown;		/* the id of 'unknown' */
} SpRun;

typedef struct SpOut
{
	int64		product;
	int32		seg;
	int32		n;
} SpOut;

/* a text datum as a C string in a short-lived context */
static char *
sp_cstring(MemoryContext cx, Datum d)
{
	MemoryContext old = MemoryContextSwitchTo(cx);
	char	   *s = TextDatumGetCString(d);

	MemoryContextSwitchTo(old);
	return s;
}

static int32
sp_intern(SpRun *run, const char *s)
{
	bool		found;
	SpStr	   *e = spstr_lookup(run->strs, s);

	if (e != NULL)
		return e->id;
	if (run->nstr == run->strcap)
	{
		run->strcap *= 2;
		run->strtext = repalloc(run->strtext, sizeof(Datum) * run->strcap);
	}
	s = MemoryContextStrdup(run->mcxt, s);
	e = spstr_insert(run->strs, s, &found);
	e->id = run->nstr;
	run->strtext[run->nstr] = PointerGetDatum(cstring_to_text(s));
	return run->nstr++;
}

static int32
sp_segment(SpRun *run, int win, int level, const int32 *band)
{
	SpSegKey	key;
	SpSegEnt   *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.win = win;
	key.level = level;
	for (int d = 0; d < 4; d++)
		key.band[d] = d < level ? band[d] : run->star;
	e = spseg_insert(run->segidx, key, &found);
	if (!found)
	{
		if (run->nseg == run->segcap)
		{
			run->segcap *= 2;
			run->segs = repalloc(run->segs, sizeof(SpSeg) * run->segcap);
		}
		e->id = run->nseg;
		run->segs[run->nseg].key = key;
		run->segs[run->nseg].buyers = 0;
		run->nseg++;
	}
	return e->id;
}

/* the segments of the levels of level-4 segment s4 (window win, these bands) */
static void
sp_fill_up(SpRun *run, int win, const int32 *band, int32 s4)
{
	int32		up[SP_LEVELS];

	for (int l = 0; l < 4; l++)
		up[l] = sp_segment(run, win, l, band);
	up[4] = s4;
	memcpy(run->segs[s4].up, up, sizeof(up));
}

static int
sp_out_cmp(const void *a, const void *b)
{
	const SpOut *x = (const SpOut *) a;
	const SpOut *y = (const SpOut *) b;

	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	if (x->product != y->product)
		return x->product < y->product ? -1 : 1;
	return 0;
}

static int
sp_array(ArrayType *a, Oid type, const char *name, Datum **vals)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name),
				 errdetail("Each element describes one window."),
				 errhint("Pass one element per window.")));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(a, type, typlen, typbyval, typalign, vals, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not hold NULL", name),
					 errdetail("Each element describes one window."),
					 errhint("Pass a value for every window.")));
	return n;
}

/*
 * seg_reco._segment_popularity_rows(starts timestamptz[], ends timestamptz[],
 *                                   top_ns integer[], years integer[])
 */
PG_FUNCTION_INFO_V1(seg_reco_segment_popularity_rows);
Datum
seg_reco_segment_popularity_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query,
				scratch,
				old;
	TupleDesc	tupdesc;
	Tuplestorestate *out;
	Datum	   *starts,
			   *ends,
			   *topns,
			   *years;
	int			nwin;
	TimestampTz lo,
				hi;
	SpRun		run;
	spcust_hash *custs;
	spcnt_hash *counts;
	int32		unknown4[SP_MAXWIN];
	StringInfoData q;
	Datum		args[2 * SP_MAXWIN + 2];
	Oid			argtypes[2 * SP_MAXWIN + 2];
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext rowctx;
	SpOut	   *rows;
	int64		nrows;
	spcnt_iterator it;
	SpCount    *ce;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("starts, ends, top_ns and years must not be NULL"),
				 errdetail("Each names one element per window."),
				 errhint("Pass arrays of one element per window.")));
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	scratch = AllocSetContextCreate(CurrentMemoryContext, "segment popularity", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(scratch);
	nwin = sp_array(PG_GETARG_ARRAYTYPE_P(0), TIMESTAMPTZOID, "starts", &starts);
	if (nwin < 1 || nwin > SP_MAXWIN ||
		sp_array(PG_GETARG_ARRAYTYPE_P(1), TIMESTAMPTZOID, "ends", &ends) != nwin ||
		sp_array(PG_GETARG_ARRAYTYPE_P(2), INT4OID, "top_ns", &topns) != nwin ||
		sp_array(PG_GETARG_ARRAYTYPE_P(3), INT4OID, "years", &years) != nwin)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starts, ends, top_ns and years must have the same length, from 1 to %d", SP_MAXWIN),
				 errdetail("Element w of each array describes window w."),
				 errhint("Pass one element per window in each array.")));
	lo = DatumGetTimestampTz(starts[0]);
	hi = DatumGetTimestampTz(ends[0]);
	for (int w = 0; w < nwin; w++)
	{
		if (DatumGetInt32(topns[w]) < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("top_ns must be at least 1, got %d", DatumGetInt32(topns[w])),
					 errdetail("Each window keeps its segments' first top_n products."),
					 errhint("Pass a positive top_n for every window.")));
		lo = Min(lo, DatumGetTimestampTz(starts[w]));
		hi = Max(hi, DatumGetTimestampTz(ends[w]));
	}

	memset(&run, 0, sizeof(run));
	run.mcxt = scratch;
	run.strs = spstr_create(scratch, 64, NULL);
	run.strcap = 64;
	run.strtext = palloc(sizeof(Datum) * run.strcap);
	run.segidx = spseg_create(scratch, 1024, NULL);
	run.segcap = 1024;
	run.segs = palloc(sizeof(SpSeg) * run.segcap);
	run.star = sp_intern(&run, "*");
	run.unknown = sp_intern(&run, "unknown");
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the customers' bands: one level-4 segment per window */
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT c.customer_id, seg_reco._household_band(c.household_size), "
						   "coalesce(c.county, 'unknown'), coalesce(c.member_tier, 'unknown')");
	for (int w = 0; w < nwin; w++)
	{
		appendStringInfo(&q, ", seg_reco._age_band(c.birth_year, $%d)", w + 1);
		argtypes[w] = INT4OID;
		args[w] = years[w];
	}
	appendStringInfoString(&q, " FROM seg_reco.customers c");
	plan = SPI_prepare(q.data, nwin, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	custs = spcust_create(scratch, 1024, NULL);
	rowctx = AllocSetContextCreate(scratch, "segment popularity rows", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, SP_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		old = MemoryContextSwitchTo(scratch);
		for (uint64 i = 0; i < n; i++)
		{
			Datum		v[3 + 1 + SP_MAXWIN];
			bool		isnull[3 + 1 + SP_MAXWIN];
			int32		band[4];
			SpCust	   *c;
			bool		found;

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, isnull);
			if (isnull[0])
				continue;
			c = spcust_insert(custs, DatumGetInt64(v[0]), &found);
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("customer %lld is listed twice in seg_reco.customers",
								(long long) DatumGetInt64(v[0])),
						 errhint("Make the customer ids of the customers source unique.")));
			c->buyer = 0;
			for (int d = 1; d < 4; d++)
				band[d] = isnull[d] ? run.unknown : sp_intern(&run, sp_cstring(rowctx, v[d]));
			for (int w = 0; w < nwin; w++)
			{
				band[0] = isnull[4 + w] ? run.unknown : sp_intern(&run, sp_cstring(rowctx, v[4 + w]));
				c->seg4[w] = sp_segment(&run, w, 4, band);
			}
		}
		MemoryContextReset(rowctx);
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);

	/* a customer missing from seg_reco.customers: every band unknown */
	old = MemoryContextSwitchTo(scratch);
	{
		int32		band[4] = {run.unknown, run.unknown, run.unknown, run.unknown};

		for (int w = 0; w < nwin; w++)
			unknown4[w] = sp_segment(&run, w, 4, band);
	}
	/* the wider levels of every level-4 segment */
	for (int s = 0; s < run.nseg; s++)
		if (run.segs[s].key.level == 4)
			sp_fill_up(&run, run.segs[s].key.win, run.segs[s].key.band, s);
	counts = spcnt_create(scratch, 4096, NULL);
	MemoryContextSwitchTo(old);

	/* the pairs bought, one read of the lines */
	resetStringInfo(&q);
	appendStringInfoString(&q, "SELECT t.customer_id, t.product_id");
	for (int w = 0; w < nwin; w++)
	{
		appendStringInfo(&q, ", pg_catalog.bool_or(t.ts >= $%d AND t.ts < $%d)", 2 * w + 1, 2 * w + 2);
		argtypes[2 * w] = TIMESTAMPTZOID;
		args[2 * w] = starts[w];
		argtypes[2 * w + 1] = TIMESTAMPTZOID;
		args[2 * w + 1] = ends[w];
	}
	argtypes[2 * nwin] = TIMESTAMPTZOID;
	args[2 * nwin] = TimestampTzGetDatum(lo);
	argtypes[2 * nwin + 1] = TIMESTAMPTZOID;
	args[2 * nwin + 1] = TimestampTzGetDatum(hi);
	appendStringInfo(&q, " FROM seg_reco.transactions t"
					 " JOIN seg_reco.products p ON p.product_id = t.product_id"
					 " WHERE p.active AND t.customer_id IS NOT NULL AND t.amount > 0"
					 " AND t.ts >= $%d AND t.ts < $%d"
					 " GROUP BY t.customer_id, t.product_id", 2 * nwin + 1, 2 * nwin + 2);
	plan = SPI_prepare(q.data, 2 * nwin + 2, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, SP_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		old = MemoryContextSwitchTo(scratch);
		for (uint64 i = 0; i < n; i++)
		{
			Datum		v[2 + SP_MAXWIN];
			bool		isnull[2 + SP_MAXWIN];
			int64		cid,
						pid;
			SpCust	   *c;

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, isnull);
			cid = DatumGetInt64(v[0]);
			pid = DatumGetInt64(v[1]);
			c = spcust_lookup(custs, cid);
			if (c == NULL)
			{
				bool		found;

				c = spcust_insert(custs, cid, &found);
				c->buyer = 0;
				for (int w = 0; w < nwin; w++)
					c->seg4[w] = unknown4[w];
			}
			for (int w = 0; w < nwin; w++)
			{
				const int32 *up;

				if (isnull[2 + w] || !DatumGetBool(v[2 + w]))
					continue;
				up = run.segs[c->seg4[w]].up;
				if ((c->buyer & (1 << w)) == 0)
				{
					c->buyer |= (uint8) (1 << w);
					for (int l = 0; l < SP_LEVELS; l++)
						run.segs[up[l]].buyers++;
				}
				for (int l = 0; l < SP_LEVELS; l++)
				{
					SpCountKey key;
					SpCount    *e;
					bool		found;

					key.product = pid;
					key.seg = up[l];
					e = spcnt_insert(counts, key, &found);
					if (!found)
						e->n = 0;
					e->n++;
				}
			}
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	SPI_finish();

	/* rank the products of each segment */
	old = MemoryContextSwitchTo(scratch);
	rows = MemoryContextAllocHuge(scratch, sizeof(SpOut) * Max(counts->members, 1));
	nrows = 0;
	spcnt_start_iterate(counts, &it);
	while ((ce = spcnt_iterate(counts, &it)) != NULL)
	{
		rows[nrows].product = ce->key.product;
		rows[nrows].seg = ce->key.seg;
		rows[nrows].n = ce->n;
		nrows++;
	}
	spcnt_destroy(counts);
	CHECK_FOR_INTERRUPTS();
	qsort(rows, nrows, sizeof(SpOut), sp_out_cmp);
	MemoryContextSwitchTo(old);

	per_query = rsinfo->econtext->ecxt_per_query_memory;
	old = MemoryContextSwitchTo(per_query);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = CreateTupleDescCopy(tupdesc);
	out = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);

	{
		int32		cur = -1;
		int32		rank = 0;

		for (int64 i = 0; i < nrows; i++)
		{
			const SpSeg *sg = &run.segs[rows[i].seg];
			Datum		val[SP_NCOLS];
			bool		nul[SP_NCOLS];

			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			if (rows[i].seg != cur)
			{
				cur = rows[i].seg;
				rank = 0;
			}
			rank++;
			if (sg->key.level > 0 && rank > DatumGetInt32(topns[sg->key.win]))
				continue;
			memset(nul, 0, sizeof(nul));
			val[0] = Int32GetDatum(sg->key.win + 1);
			val[1] = Int32GetDatum(sg->key.level);
			for (int d = 0; d < 4; d++)
				val[2 + d] = run.strtext[sg->key.band[d]];
			val[6] = Int32GetDatum(rank);
			val[7] = Int64GetDatum(rows[i].product);
			val[8] = Int32GetDatum(rows[i].n);
			val[9] = Int32GetDatum(sg->buyers);
			val[10] = Float8GetDatum((double) rows[i].n / (double) sg->buyers);
			tuplestore_putvalues(out, tupdesc, val, nul);
		}
	}
	MemoryContextDelete(scratch);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = out;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}
