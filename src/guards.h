/*
 * guards.h
 *      Input checks shared by every seg_reco entry point.
 *
 * Small inline functions so that each SQL-callable function states its
 * checks in one line and every error carries an SQLSTATE and a hint.
 */
#ifndef SEG_RECO_GUARDS_H
#define SEG_RECO_GUARDS_H

#include "postgres.h"

#include "fmgr.h"

#include <math.h>

/* A value a user supplied must be a finite number. */
static inline void
seg_reco_check_finite(double value, const char *what)
{
	if (unlikely(isnan(value) || isinf(value)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must be a finite number, got %s", what,
						isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")),
				 errhint("Filter out or repair rows with NaN or infinite values.")));
}

/*
 * An argument of a non-STRICT function (one with defaults that must be
 * checked one by one) must not be NULL; the message names it.
 */
#define SEG_RECO_ARG_NOT_NULL(i, what) \
	do { \
		if (PG_ARGISNULL(i)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("%s must not be NULL", what), \
					 errhint("Omit the argument to use its default."))); \
	} while (0)

#endif							/* SEG_RECO_GUARDS_H */
