/*
 * as_of.h
 *      The pipeline's as-of date (seg_reco.default_as_of) and the end of the
 *      history a serving call reads.  Both run SPI: the caller is connected.
 */
#ifndef SEG_RECO_AS_OF_H
#define SEG_RECO_AS_OF_H

#include "postgres.h"

#include "utils/date.h"

/* the date of the latest transaction (default_as_of()); false when there are none */
extern bool seg_reco_default_as_of_date(DateADT *as_of);

/*
 * The end of the history a serving call reads, epoch seconds: the end of
 * as_of (when has_as_of), else the model's option as_of (a timestamptz as
 * text, or NULL), else the end of default_as_of()'s day (today's without
 * transactions).
 */
extern double seg_reco_serving_end(bool has_as_of, DateADT as_of, const char *model_as_of);

#endif							/* SEG_RECO_AS_OF_H */
