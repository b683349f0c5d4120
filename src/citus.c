/*
 * citus.c
 *      Where seg_reco runs on a Citus cluster (issue 15): on a worker, a
 *      per-row call of a serving function inside the query of a shard finds
 *      no model (models live on the coordinator, the worker's copy of
 *      seg_reco.models is empty); it says so and how to write the query
 *      instead of "does not exist".
 *
 * Only read where a model is missing, so a single node pays nothing.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"

#include "citus.h"

bool
seg_reco_on_citus_worker(void)
{
	List	   *fname;
	Oid			fn;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	fname = list_make2(makeString("pg_catalog"), makeString("citus_is_coordinator"));
	fn = LookupFuncName(fname, 0, NULL, true);
	if (!OidIsValid(fn))
		return false;
	return !DatumGetBool(OidFunctionCall0(fn));
}

void
seg_reco_citus_model_missing(const char *kind, const char *name)
{
	if (!seg_reco_on_citus_worker())
		return;
	if (strcmp(kind, "als") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("als model \"%s\" is not on this Citus worker", name),
				 errdetail("seg_reco's models and factors live on the Citus coordinator; this call ran on a worker, "
						   "per row of a query over a distributed table (inside the query of a shard)."),
				 errhint("Gather the customers on the coordinator first and call it there: "
						 "WITH c AS MATERIALIZED (SELECT customer_id FROM seg_reco.customers WHERE ...) "
						 "SELECT c.customer_id, r.* FROM c, seg_reco.recommend_for(c.customer_id) r; "
						 "or call it for one customer: SELECT * FROM seg_reco.recommend_for(42).")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s model \"%s\" is not on this Citus worker", kind, name),
			 errdetail("seg_reco's models live on the Citus coordinator; this call ran on a worker, "
					   "per row of a query over a distributed table (inside the query of a shard)."),
			 errhint("Pass the model as a value, read once on the coordinator: "
					 "seg_reco.%s_assign(features, (SELECT seg_reco.%s_load('%s'))), "
					 "or a variable or literal holding it.", kind, kind, name)));
}
