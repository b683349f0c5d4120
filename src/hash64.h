/*
 * hash64.h
 *      splitmix64's finaliser (Steele, Lea and Flood 2014), the integer mix
 *      seg_reco uses wherever it needs a hash of an id that does not depend
 *      on the row order: samples (next-basket candidates, association
 *      rules' baskets), hash tables of ids, k-means++ tie-breaking.
 */
#ifndef SEG_RECO_HASH64_H
#define SEG_RECO_HASH64_H

#include "c.h"

static inline uint64
seg_reco_mix64(uint64 h)
{
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

/* splitmix64 of a value: the golden-ratio increment, then the finaliser */
#define SEG_RECO_SPLITMIX_GAMMA UINT64CONST(0x9E3779B97F4A7C15)

#endif							/* SEG_RECO_HASH64_H */
