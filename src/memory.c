/*
 * memory.c
 *      Large buffers for data-sized work: huge-page hints and buffers that
 *      grow without copying (see memory.h).
 */
#include "postgres.h"

#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* mremap */
#endif
#include <sys/mman.h>
#endif

#include "utils/memutils.h"

#include "memory.h"

/*
 * Ask for transparent huge pages on the 2 MiB-aligned interior of a large
 * buffer.  Only a hint: first touching tens of MB in 4 KiB pages costs a
 * page fault each, a large part of training time on big inputs.
 */
static void
hint_huge_pages(void *p, Size sz)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
	const uintptr_t huge = (uintptr_t) 2 * 1024 * 1024;
	uintptr_t	start,
				end;

	if (sz < 2 * huge)
		return;
	start = ((uintptr_t) p + huge - 1) & ~(huge - 1);
	end = ((uintptr_t) p + sz) & ~(huge - 1);
	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

void *
seg_reco_alloc_huge(Size sz)
{
	void	   *p = MemoryContextAllocExtended(CurrentMemoryContext, Max(sz, 1), MCXT_ALLOC_HUGE);

	hint_huge_pages(p, sz);
	return p;
}

/*
 * Growing the row buffer.  Small buffers are palloc'd and copied when they
 * grow.  From GROW_MAP_BYTES on (Linux), the buffer is an anonymous mapping
 * grown with mremap: no copy, each page faulted in once (as a huge page
 * where the kernel allows), where palloc + copy would touch every byte twice
 * and fault in each 4 kB page, which on large inputs cost more than reading
 * the rows.  The mapping is released by a reset callback of the aggregate's
 * memory context (also on error); it is not counted in the context's
 * memory accounting.
 */
#define GROW_MAP_BYTES		((Size) 8 * 1024 * 1024)

typedef struct GrowMap
{
	MemoryContextCallback cb;
	void	   *p;
	Size		size;
} GrowMap;

static void
grow_map_release(void *arg)
{
#ifdef __linux__
	GrowMap    *m = (GrowMap *) arg;

	if (m->p)
		munmap(m->p, m->size);
	m->p = NULL;
#endif
}

static void
grow_map_failed(Size newsize)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory"),
			 errdetail("Failed to map %zu bytes for a growing buffer.", newsize)));
}

void *
seg_reco_grow_buffer(MemoryContext cxt, void **map, void *old, Size used, Size newsize)
{
	void	   *p;

#if defined(__linux__) && defined(MREMAP_MAYMOVE)
	if (newsize >= GROW_MAP_BYTES)
	{
		GrowMap    *m = (GrowMap *) *map;

		if (m == NULL)
		{
			m = MemoryContextAllocZero(cxt, sizeof(GrowMap));
			p = mmap(NULL, newsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				grow_map_failed(newsize);
			m->p = p;
			m->size = newsize;
			m->cb.func = grow_map_release;
			m->cb.arg = m;
			MemoryContextRegisterResetCallback(cxt, &m->cb);
			*map = m;
			hint_huge_pages(p, newsize);
			if (old)
			{
				memcpy(p, old, used);
				pfree(old);
			}
			return p;
		}
		p = mremap(m->p, m->size, newsize, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			grow_map_failed(newsize);
		m->p = p;
		m->size = newsize;
		hint_huge_pages(p, newsize);
		return p;
	}
#endif
	p = MemoryContextAllocExtended(cxt, newsize, MCXT_ALLOC_HUGE);
	if (old)
	{
		memcpy(p, old, used);
		pfree(old);
	}
	return p;
}
