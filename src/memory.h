/*
 * memory.h
 *      Large buffers for data-sized work (k-means rows, ALS input, ...).
 *
 * First touching tens of MB in 4 KiB pages costs a page fault each, which
 * on large inputs takes longer than the work on the data: these buffers
 * ask the kernel for transparent huge pages before they are first touched.
 */
#ifndef SEG_RECO_MEMORY_H
#define SEG_RECO_MEMORY_H

#include "postgres.h"

/* palloc (huge allowed) in CurrentMemoryContext, hinted for huge pages */
extern void *seg_reco_alloc_huge(Size sz);

/*
 * A buffer of newsize bytes in cxt holding the first used bytes of old
 * (NULL at first), which it replaces.  *map (NULL at first) tracks the
 * mapping behind large buffers: grown by mremap, released by a reset
 * callback of cxt, not counted in the context's memory accounting.  Never
 * pfree the result.
 */
extern void *seg_reco_grow_buffer(MemoryContext cxt, void **map, void *old, Size used,
								  Size newsize);

#endif							/* SEG_RECO_MEMORY_H */
