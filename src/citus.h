/*
 * citus.h
 *      Where seg_reco runs on a Citus cluster (issue 15).
 */
#ifndef SEG_RECO_CITUS_H
#define SEG_RECO_CITUS_H

#include "postgres.h"

/*
 * True on a Citus worker (the extension citus in this database and
 * citus_is_coordinator() false): the models, factors and settings live on
 * the coordinator, and the worker's copies of seg_reco's tables are empty.
 */
extern bool seg_reco_on_citus_worker(void);

/*
 * Called where a stored model of this kind and name is missing: on a Citus
 * worker an error that says why (a per-row call in a query over a
 * distributed table ran in a shard's query) and how to write the query;
 * elsewhere nothing (the caller raises its own "does not exist").
 */
extern void seg_reco_citus_model_missing(const char *kind, const char *name);

#endif							/* SEG_RECO_CITUS_H */
