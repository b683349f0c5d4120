/*
 * as_of.c
 *      The pipeline's as-of date, seg_reco.default_as_of(): the date of the
 *      latest transaction, and the end of the history a serving call reads
 *      (recommend_for, recommend_all).
 *
 * default_as_of() is read at every recommend_for without as_of, so it is C
 * rather than PL/pgSQL (a function call, a catalog join and a dynamic
 * EXECUTE planned afresh at every call cost more than the rest of the
 * call's queries together).  What it reads:
 *   - seg_reco.transactions without rewrite rules (the built-in table, or
 *     any table: relhasrules is false) can stand on no view: the latest line
 *     is max(t.ts) of seg_reco.transactions, one saved plan;
 *   - a view (use_source): the time column of the user's relation it reads
 *     (timestamp or date: the view's cast to timestamptz would hide an index
 *     on it), found by the catalog join below with the caller's column
 *     privilege, both run at every call so that a new source, a changed view
 *     or a revoked privilege take effect at once; the max of that column by
 *     a plan kept per query text (the text names the relation and column,
 *     so the plan is always the one EXECUTE of the text would make);
 *     otherwise max(t.ts) through the view.  A 0.1.0 database (no
 *     seg_reco.sources) reads max(t.ts), as its default_as_of() did;
 *   - on Citus, after seg_reco.distribute(), the non-members' lines are in
 *     seg_reco.nonmember_transactions: the latest of both (a single node's
 *     date, which reads them in seg_reco.transactions).
 * A serving call on Citus reads the as-of date of the last refresh()
 * instead, when there is one (citus_refresh_as_of).
 * Lines more than a day in the future are an error (they would put every
 * as-of date off), with the message and hint of the PL/pgSQL function.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "als_model.h"
#include "as_of.h"

PG_FUNCTION_INFO_V1(seg_reco_default_as_of);
PG_FUNCTION_INFO_V1(seg_reco_serving_as_of);

static SPIPlanPtr plan_latest = NULL;
static SPIPlanPtr plan_nonmember = NULL;
static SPIPlanPtr plan_resolve = NULL;
static SPIPlanPtr plan_source_max = NULL;
static SPIPlanPtr plan_refresh_as_of = NULL;
static char *source_max_sql = NULL;		/* the text of plan_source_max */

/* seg_reco.transactions has (or once had) rewrite rules: it may be a view */
static bool
transactions_has_rules(void)
{
	Oid			nsp = get_namespace_oid("seg_reco", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("transactions", nsp) : InvalidOid;
	HeapTuple	tup;
	bool		rules;

	if (!OidIsValid(rel))
		return false;			/* the plain query reports the missing relation */
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (!HeapTupleIsValid(tup))
		return false;
	rules = ((Form_pg_class) GETSTRUCT(tup))->relhasrules;
	ReleaseSysCache(tup);
	return rules;
}

/* run a kept plan returning one timestamptz; false when it is NULL */
static bool
latest_of(SPIPlanPtr plan, TimestampTz *latest)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_plan(plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the latest transaction failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*latest = DatumGetTimestampTz(d);
	SPI_freetuptable(SPI_tuptable);
	return !isnull;
}

/*
 * The time column of the user's relation that the view seg_reco.transactions
 * reads (see the file header): true with the query reading its max in *sql.
 */
static bool
source_time_column(char **sql)
{
	bool		found = false;

	if (!OidIsValid(get_relname_relid("sources", get_namespace_oid("seg_reco", false))))
		return false;			/* 0.1.0: no use_source */
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_resolve,
											"SELECT a.attrelid::pg_catalog.regclass::pg_catalog.text, a.attname::pg_catalog.text"
											"  FROM seg_reco.sources s"
											"  JOIN pg_catalog.pg_attribute a"
											"    ON a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(s.source)"
											"   AND a.attname OPERATOR(pg_catalog.=) coalesce(s.columns OPERATOR(pg_catalog.->>) 'ts', 'ts')"
											"   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped"
											" WHERE s.relation OPERATOR(pg_catalog.=) 'transactions'"
											"   AND a.atttypid IN ('pg_catalog.timestamp'::pg_catalog.regtype, 'pg_catalog.date'::pg_catalog.regtype)"
											"   AND pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')"
											"   AND EXISTS (SELECT 1"
											"                 FROM pg_catalog.pg_rewrite r"
											"                 JOIN pg_catalog.pg_depend d"
											"                   ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
											"                  AND d.objid OPERATOR(pg_catalog.=) r.oid"
											"                WHERE r.ev_class OPERATOR(pg_catalog.=) 'seg_reco.transactions'::pg_catalog.regclass"
											"                  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
											"                  AND d.refobjid OPERATOR(pg_catalog.=) a.attrelid"
											"                  AND d.refobjsubid OPERATOR(pg_catalog.=) a.attnum)",
											0, NULL),
						 NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the source of seg_reco.transactions failed");
	if (SPI_processed == 1)
	{
		char	   *rel = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *col = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		StringInfoData buf;

		/* the text of format('SELECT max(s.%I)::pg_catalog.timestamptz FROM %s s', col, rel) */
		initStringInfo(&buf);
		appendStringInfo(&buf, "SELECT max(s.%s)::pg_catalog.timestamptz FROM %s s",
						 quote_identifier(col), rel);
		*sql = buf.data;
		found = true;
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/* the plan of sql, kept while the text stays the same */
static SPIPlanPtr
source_max_plan(const char *sql)
{
	if (plan_source_max != NULL && strcmp(source_max_sql, sql) == 0)
		return plan_source_max;
	if (plan_source_max != NULL)
	{
		SPI_freeplan(plan_source_max);
		plan_source_max = NULL;
		pfree(source_max_sql);
		source_max_sql = NULL;
	}
	seg_reco_keep_plan(&plan_source_max, sql, 0, NULL);
	source_max_sql = MemoryContextStrdup(TopMemoryContext, sql);
	return plan_source_max;
}

/*
 * The date of the latest transaction, as seg_reco.default_as_of() returns
 * it; false when there are none.  The caller is connected to SPI.
 */
bool
seg_reco_default_as_of_date(DateADT *as_of)
{
	TimestampTz latest = 0;
	char	   *sql;
	bool		found;
	Interval	one_day;
	TimestampTz limit;

	if (transactions_has_rules() && source_time_column(&sql))
		found = latest_of(source_max_plan(sql), &latest);
	else
		found = latest_of(seg_reco_keep_plan(&plan_latest,
											 "SELECT max(t.ts) FROM seg_reco.transactions t",
											 0, NULL),
						  &latest);
	/* on Citus (distribute()) the non-members' lines are apart */
	if (OidIsValid(get_relname_relid("nonmember_transactions",
									 get_namespace_oid("seg_reco", false))))
	{
		TimestampTz nonmember;

		if (latest_of(seg_reco_keep_plan(&plan_nonmember,
										 "SELECT max(n.ts) FROM seg_reco.nonmember_transactions n",
										 0, NULL),
					  &nonmember) &&
			(!found || nonmember > latest))
		{
			latest = nonmember;
			found = true;
		}
	}
	if (!found)
		return false;
	memset(&one_day, 0, sizeof(one_day));
	one_day.day = 1;
	limit = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													IntervalPGetDatum(&one_day)));
	if (latest > limit)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("seg_reco.transactions holds lines dated in the future (latest %s)",
						DatumGetCString(DirectFunctionCall1(timestamptz_out,
															TimestampTzGetDatum(latest)))),
				 errhint("Repair the timestamps, or pass as_of explicitly: lines after as_of are ignored.")));
	*as_of = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(latest)));
	return true;
}

/*
 * On Citus (seg_reco.distribute()): the as-of date of the last refresh()
 * (seg_reco.refresh_state, a reference table read from the node's own
 * copy); false on a single node, before distribute() or before the first
 * refresh.  The latest line of a distributed table is a query over every
 * shard of two tables (7-14 ms a call on the test cluster against about
 * 2 ms for the rest of recommend_for), so a serving call without as_of
 * takes the date refresh() read it at: the same as default_as_of() until
 * lines later than that arrive, taken in by the next refresh().
 */
static bool
citus_refresh_as_of(DateADT *as_of)
{
	bool		isnull;
	bool		found = false;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return false;
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_refresh_as_of,
											"SELECT r.as_of FROM seg_reco.refresh_state r"
											" WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d"
											"                WHERE d.logicalrelid OPERATOR(pg_catalog.=)"
											"                      'seg_reco.transactions'::pg_catalog.regclass)",
											0, NULL),
						 NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the as-of date of the last refresh failed");
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			*as_of = DatumGetDateADT(d);
			found = true;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * The date a serving call without as_of reads up to: the last refresh()'s
 * on Citus, else default_as_of()'s; false without transactions.  The
 * caller is connected to SPI.
 */
static bool
serving_as_of_date(DateADT *as_of)
{
	return citus_refresh_as_of(as_of) || seg_reco_default_as_of_date(as_of);
}

/* extract(epoch FROM (d + 1)::timestamptz)::float8 */
static double
epoch_of_day_after(DateADT d)
{
	Datum		next = DirectFunctionCall2(date_pli, DateADTGetDatum(d), Int32GetDatum(1));

	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  DirectFunctionCall2(extract_timestamptz,
																  CStringGetTextDatum("epoch"),
																  DirectFunctionCall1(date_timestamptz, next))));
}

/*
 * The end of the history a serving call reads, epoch seconds: the end of
 * as_of when given; else the model's option as_of (text, a timestamptz: a
 * model trained on the past serves the past); else the end of
 * default_as_of()'s day (today's without transactions; on Citus the as-of
 * date of the last refresh() when there is one).  The value of
 *   extract(epoch FROM coalesce(($1 + 1)::timestamptz, option::timestamptz,
 *                               (coalesce(seg_reco.default_as_of(), CURRENT_DATE) + 1)::timestamptz))::float8
 */
double
seg_reco_serving_end(bool has_as_of, DateADT as_of, const char *model_as_of)
{
	DateADT		d;

	if (has_as_of)
		return epoch_of_day_after(as_of);
	if (model_as_of != NULL)
	{
		Datum		ts = DirectFunctionCall3(timestamptz_in, CStringGetDatum(model_as_of),
											 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

		return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												  DirectFunctionCall2(extract_timestamptz,
																	  CStringGetTextDatum("epoch"), ts)));
	}
	if (!serving_as_of_date(&d))
		d = GetSQLCurrentDate();
	return epoch_of_day_after(d);
}

/* a date of one of the functions above for SQL, connected to SPI for it; NULL when it finds none */
static Datum
as_of_datum(FunctionCallInfo fcinfo, bool (*date_of) (DateADT *))
{
	DateADT		d;
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = date_of(&d);
	SPI_finish();
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(d);
}

/*
 * seg_reco.default_as_of() RETURNS date: the date of the latest transaction
 * (NULL without any); an error when lines are dated more than a day ahead.
 */
Datum
seg_reco_default_as_of(PG_FUNCTION_ARGS)
{
	return as_of_datum(fcinfo, seg_reco_default_as_of_date);
}

/*
 * seg_reco._serving_as_of() RETURNS date: the date a serving call without
 * as_of reads up to: default_as_of(), or on Citus the as-of date of the
 * last refresh() (citus_refresh_as_of); NULL without transactions.  The
 * SQL serving functions (buy_again_scores, popular_products) call it, so
 * they read the same history as recommend_for.
 */
Datum
seg_reco_serving_as_of(PG_FUNCTION_ARGS)
{
	return as_of_datum(fcinfo, serving_as_of_date);
}
