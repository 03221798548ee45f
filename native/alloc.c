// SPDX-License-Identifier: GPL-2.0
/*
 * Descriptor allocator models.
 *
 * The kernel hands pte_list_desc objects out of a per-vCPU memory cache
 * that is topped up from the pte_list_desc slab.  What matters to the rmap
 * is where the objects land, so three placements are modelled:
 *
 *   bump     objects at increasing addresses; a freed object is not reused
 *            (the best locality a build-up phase can have)
 *   slab     like bump, but a freed object goes on a LIFO free list and is
 *            the next one handed out (hot reuse, as a slab's per-CPU list)
 *   scatter  objects at pseudo-randomly permuted slots of an arena eight
 *            times larger than the expected peak (a long-running,
 *            fragmented host); frees are reused LIFO
 *   libc     aligned_alloc()/free() per object, so that ASan sees every
 *            descriptor's lifetime (tests only)
 *   track    bump, with every alloc and free logged, and a rewind that
 *            forgets all objects: `check` rebuilds a head, applies one op
 *            and reads back which descriptors came and went (api.c);
 *            freed objects keep their contents, as a walker holding one
 *            would read them
 *
 * Every object is cache-line aligned: the stride is the descriptor size
 * rounded up to 64 bytes.  Arenas are zeroed (and so faulted in) when a
 * chunk is created, outside any measured region; an object is zeroed again
 * when it is handed out, as the kernel's cache hands out zeroed objects.
 *
 * Page size.  The kernel takes descriptors (slab) and shadow pages (the
 * page allocator) from its direct map, which x86-64 maps with 2 MiB and
 * 1 GiB pages: following a descriptor chain there costs few TLB misses.
 * On 4 KiB pages a model pays a TLB miss for most descriptors once its
 * arena outgrows the TLB's reach (a few MiB), and in a VM each of those
 * is a two-dimensional page walk whose cost moves with the host: fork
 * n = 256 at 512 heads, scattered (a 32 MiB arena), took 131-523 ms per
 * repetition of old@3 over eight layouts on 4 KiB pages and 88-138 ms on
 * 2 MiB pages, and new@3/old@3 was 2.04 against 1.50.  So with
 * rb_kmem_huge(1) (the timing workers) every kernel-memory region of
 * 2 MiB or more (an arena chunk, the shadow pages) is placed on 2 MiB
 * boundaries and given madvise(MADV_HUGEPAGE) before it is first touched;
 * with rb_kmem_huge(0) (the default: sim, tests) it is placed as before
 * and given MADV_NOHUGEPAGE, so that a host whose THP setting is
 * "always" does not change what is measured.  The rmap heads model the
 * kvcalloc()ed memslot arrays, which x86 vmallocs on 4 KiB pages: they
 * stay on small pages either way (rb_small_pages).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

#include "rmap.h"

#define CACHELINE 64
#define HUGE_SIZE (2ul << 20)
#define MIN_CHUNK_OBJS 1024
#define TRACK_LOG 64

struct chunk {
	struct chunk *next;
	char *base;
	size_t placed;		/* bytes placed for 2 MiB pages (rb_kmem_alloc) */
	size_t nobjs;
	size_t used;		/* objects handed out from this chunk */
	unsigned int bits;	/* scatter: nobjs == 1 << bits */
};

struct rmap_cache {
	int mode;
	int huge;		/* arena chunks on 2 MiB pages (rb_kmem_alloc) */
	size_t obj_size;
	size_t chunk_objs;
	u64 seed;
	struct chunk *chunks;	/* newest first */
	void *free_list;	/* slab, scatter: LIFO through the first word */
	long live, peak, allocs, frees;
	size_t arena_bytes;
	int ntrack;		/* track: entries logged since the rewind */
	unsigned long track[TRACK_LOG];
};

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

static unsigned int log2_ceil(size_t x)
{
	unsigned int b = 0;

	while (((size_t)1 << b) < x)
		b++;
	return b;
}

/*
 * A bijection of [0, 2^bits): xor-shift and odd multiply steps, each of
 * which is invertible modulo 2^bits.  Scatter hands out slot perm(i) for
 * the i-th allocation of a chunk, with no table to build.
 */
static size_t scatter_slot(size_t i, unsigned int bits, u64 seed)
{
	u64 mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
	unsigned int s = bits / 2 ? bits / 2 : 1;
	u64 x = (i ^ seed) & mask;

	x ^= x >> s;
	x = (x * 0x9e3779b97f4a7c15ull) & mask;
	x ^= x >> s;
	x = (x * 0xbf58476d1ce4e5b9ull + (seed >> 17)) & mask;
	x ^= x >> s;
	return (size_t)x;
}

/*
 * The whole pages inside [p, p + bytes): [*pa, *pe), and the page size;
 * 0 when there is no page size to go by.
 */
static uintptr_t whole_pages(const void *p, size_t bytes, uintptr_t *pa, uintptr_t *pe)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, pg;

	if (!p || page <= 0)
		return 0;
	pg = (uintptr_t)page;
	*pa = (a + pg - 1) & ~(pg - 1);
	*pe = (a + bytes) & ~(pg - 1);
	return pg;
}

/*
 * Fault in [p, p + bytes) for writing, outside any measured region: one
 * madvise(MADV_POPULATE_WRITE) over the whole pages inside the range (the
 * kernel allocates them in one call instead of taking a page fault for
 * each: 350 MiB in 118 ms here, against 195 ms by touching them), then a
 * write of every page's first byte (the partial pages at the ends, and all
 * of them where the kernel has no MADV_POPULATE_WRITE, before 5.14), which
 * leaves every byte as it was.
 */
void rb_populate(void *p, size_t bytes)
{
	uintptr_t a = (uintptr_t)p, end = a + bytes, pa, pe, pg;
	volatile char *c;

	pg = bytes ? whole_pages(p, bytes, &pa, &pe) : 0;
	if (!pg)
		return;
	if (pe > pa)
		madvise((void *)pa, pe - pa, MADV_POPULATE_WRITE);
	for (c = (volatile char *)a; (uintptr_t)c < end;
	     c = (volatile char *)(((uintptr_t)c & ~(pg - 1)) + pg))
		*c = *c;
}

/*
 * rb_kmem_huge(): what rb_work_create() gives its Workload (which keeps it
 * for all its kernel memory, its caches' arenas included); anything else
 * (an rb_ctx, the fuzzer) asks for 4 KiB pages itself.
 */
static int kmem_huge;
static size_t kmem_huge_bytes;	/* live bytes placed for 2 MiB pages */

int rb_kmem_huge(int on)
{
	int old = kmem_huge;

	if (on >= 0)
		kmem_huge = !!on;
	return old;
}

unsigned long long rb_kmem_huge_bytes(void)
{
	return kmem_huge_bytes;
}

static void advise_pages(void *p, size_t bytes, int advice)
{
	uintptr_t pa, pe;

	if (whole_pages(p, bytes, &pa, &pe) && pe > pa)
		madvise((void *)pa, pe - pa, advice);
}

/*
 * Heads (and anything else the kernel would vmalloc): 4 KiB pages.  Only a
 * region of 2 MiB or more can be given a 2 MiB page, so only such a one
 * is advised.
 */
void rb_small_pages(void *p, size_t bytes)
{
	if (bytes >= HUGE_SIZE)
		advise_pages(p, bytes, MADV_NOHUGEPAGE);
}

/*
 * Kernel memory of bytes (at least 1), aligned to align (a power of two
 * dividing HUGE_SIZE), not yet touched; on 2 MiB pages when huge and the
 * region is large enough to have one.  *placed is set to the bytes placed
 * for 2 MiB pages (0 for none); pass it to rb_kmem_free().
 */
void *rb_kmem_alloc(size_t bytes, size_t align, int huge, size_t *placed)
{
	size_t hb;
	void *p;

	*placed = 0;
	if (!bytes || bytes > (size_t)-1 - HUGE_SIZE)
		return NULL;
	if (!huge || bytes < HUGE_SIZE) {
		p = aligned_alloc(align, round_up(bytes, align));
		rb_small_pages(p, bytes);
		return p;
	}
	hb = round_up(bytes, HUGE_SIZE);
	p = aligned_alloc(HUGE_SIZE, hb);
	if (p) {
		advise_pages(p, hb, MADV_HUGEPAGE);
		*placed = hb;
		kmem_huge_bytes += hb;
	}
	return p;
}

void rb_kmem_free(void *p, size_t placed)
{
	free(p);
	if (p)
		kmem_huge_bytes -= placed;
}

static struct chunk *chunk_new(struct rmap_cache *cache)
{
	struct chunk *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->nobjs = cache->chunk_objs;
	c->bits = log2_ceil(c->nobjs);
	c->base = rb_kmem_alloc(c->nobjs * cache->obj_size, CACHELINE, cache->huge,
				&c->placed);
	if (!c->base) {
		free(c);
		return NULL;
	}
	rb_populate(c->base, c->nobjs * cache->obj_size);
	memset(c->base, 0, c->nobjs * cache->obj_size);
	c->next = cache->chunks;
	cache->chunks = c;
	cache->arena_bytes += c->nobjs * cache->obj_size;
	return c;
}

struct rmap_cache *rmap_cache_create(int mode, size_t obj_size,
				     size_t expected, u64 seed, int huge)
{
	struct rmap_cache *cache;

	if (mode < RMAP_ALLOC_BUMP || mode > RMAP_ALLOC_TRACK || !obj_size)
		return NULL;
	cache = calloc(1, sizeof(*cache));
	if (!cache)
		return NULL;
	cache->mode = mode;
	cache->huge = huge;
	cache->obj_size = round_up(obj_size, CACHELINE);
	cache->seed = seed * 0x2545f4914f6cdd1dull + 1;
	if (expected < MIN_CHUNK_OBJS)
		expected = MIN_CHUNK_OBJS;
	if (mode == RMAP_ALLOC_SCATTER)
		cache->chunk_objs = (size_t)1 << log2_ceil(8 * expected);
	else
		cache->chunk_objs = expected;
	if (mode != RMAP_ALLOC_LIBC && !chunk_new(cache)) {
		free(cache);
		return NULL;
	}
	return cache;
}

/*
 * Rewind a cache whose objects have all been freed, so that the next
 * measured repetition gets the same placements as the first, without
 * the cost of a new arena.  Objects are zeroed when handed out, so stale
 * contents do not matter.  Only a single-chunk arena is rewound; anything
 * else (a libc cache, an arena that had to grow) is refused and the
 * caller creates a new cache.
 */
int rmap_cache_reset(struct rmap_cache *cache)
{
	if (!cache || cache->live || cache->mode == RMAP_ALLOC_LIBC ||
	    !cache->chunks || cache->chunks->next)
		return -EBUSY;
	cache->chunks->used = 0;
	cache->free_list = NULL;
	cache->peak = 0;
	return 0;
}

int rmap_cache_rewind(struct rmap_cache *cache)
{
	if (!cache || cache->mode != RMAP_ALLOC_TRACK || cache->chunks->next)
		return -EINVAL;
	cache->chunks->used = 0;
	cache->live = cache->peak = 0;
	cache->ntrack = 0;
	return 0;
}

static void track(struct rmap_cache *cache, void *obj, unsigned long freed)
{
	if (cache->ntrack < TRACK_LOG)
		cache->track[cache->ntrack] = (unsigned long)obj | freed;
	cache->ntrack++;
}

int rmap_cache_track_log(const struct rmap_cache *cache, unsigned long *out,
			 int cap)
{
	int i;

	for (i = 0; i < cache->ntrack && i < cap && i < TRACK_LOG; i++)
		out[i] = cache->track[i];
	return cache->ntrack;
}

void rmap_cache_destroy(struct rmap_cache *cache)
{
	struct chunk *c, *next;

	if (!cache)
		return;
	for (c = cache->chunks; c; c = next) {
		next = c->next;
		rb_kmem_free(c->base, c->placed);
		free(c);
	}
	free(cache);
}

static void *carve(struct rmap_cache *cache)
{
	struct chunk *c = cache->chunks;
	size_t slot;

	if (c->used == c->nobjs) {
		c = chunk_new(cache);
		if (!c)
			return NULL;
	}
	slot = c->used++;
	if (cache->mode == RMAP_ALLOC_SCATTER)
		slot = scatter_slot(slot, c->bits, cache->seed);
	else if (cache->mode == RMAP_ALLOC_TRACK)
		track(cache, c->base + slot * cache->obj_size, 0);
	return c->base + slot * cache->obj_size;
}

void *mmu_alloc_pte_list_desc(struct rmap_cache *cache)
{
	void *obj;

	if (cache->mode == RMAP_ALLOC_LIBC) {
		obj = aligned_alloc(CACHELINE, cache->obj_size);
	} else if (cache->free_list) {
		obj = cache->free_list;
		cache->free_list = *(void **)obj;
	} else {
		obj = carve(cache);
	}
	if (!obj)
		abort();	/* out of host memory: nothing sane to measure */
	memset(obj, 0, cache->obj_size);
	cache->allocs++;
	if (++cache->live > cache->peak)
		cache->peak = cache->live;
	return obj;
}

void mmu_free_pte_list_desc(struct rmap_cache *cache, void *desc)
{
	cache->frees++;
	cache->live--;
	switch (cache->mode) {
	case RMAP_ALLOC_LIBC:
		free(desc);
		break;
	case RMAP_ALLOC_BUMP:
		break;
	case RMAP_ALLOC_TRACK:
		track(cache, desc, 1);
		break;
	default:
		*(void **)desc = cache->free_list;
		cache->free_list = desc;
	}
}

long rmap_cache_live(const struct rmap_cache *cache)
{
	return cache->live;
}

long rmap_cache_peak(const struct rmap_cache *cache)
{
	return cache->peak;
}

long rmap_cache_allocs(const struct rmap_cache *cache)
{
	return cache->allocs;
}

size_t rmap_cache_obj_size(const struct rmap_cache *cache)
{
	return cache->obj_size;
}

size_t rmap_cache_arena_bytes(const struct rmap_cache *cache)
{
	return cache->arena_bytes;
}
