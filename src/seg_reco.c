/*
 * seg_reco.c
 *      Module magic and _PG_init for the seg_reco extension.
 *
 * Settings live here as GUCs; the prefix "seg_reco" is reserved so that a
 * misspelt setting is reported instead of silently ignored.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	MarkGUCPrefixReserved("seg_reco");
}
