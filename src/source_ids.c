/*
 * source_ids.c
 *      seg_reco.internal_id(text): the bigint seg_reco uses for a text id of
 *      the user's data (customer, product, receipt) read through use_source.
 *
 * 63 bits of PostgreSQL's own hashtextextended(text, 0), under the
 * argument's collation, so the ids are those of hash partitioning: the same
 * on every call and in every relation, for this major version on this
 * architecture.  In C (not SQL) because use_source's views compute it for
 * every line they read: a SQL function would have to pin its search_path,
 * which costs a GUC save and restore per call and keeps it from being
 * inlined.  use_source refuses a column where two texts share an id.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

PG_FUNCTION_INFO_V1(seg_reco_internal_id);
Datum
seg_reco_internal_id(PG_FUNCTION_ARGS)
{
	Datum		h = DirectFunctionCall2Coll(hashtextextended, PG_GET_COLLATION(),
											PG_GETARG_DATUM(0), Int64GetDatum(0));

	PG_RETURN_INT64(DatumGetInt64(h) & PG_INT64_MAX);
}
