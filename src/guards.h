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

#endif							/* SEG_RECO_GUARDS_H */
