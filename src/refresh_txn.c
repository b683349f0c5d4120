/*
 * refresh_txn.c
 *      Whether the calling procedure may end its transaction.
 *
 * refresh() empties the idle recommendations slot with TRUNCATE in short
 * transactions of their own, which it can do only when called by CALL
 * outside a transaction block, a function and an exception block.
 * PL/pgSQL has no way to ask: COMMIT where it is not allowed is an error,
 * and an exception block around it cannot help, since COMMIT inside one is
 * refused as well.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"

PG_FUNCTION_INFO_V1(seg_reco_can_commit);

/*
 * The PL/pgSQL procedure that evaluates this call owns the current SPI
 * connection; it is nonatomic when the procedure may COMMIT, unless an
 * exception block has opened a subtransaction.
 */
Datum
seg_reco_can_commit(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SPI_inside_nonatomic_context() && !IsSubTransaction());
}
