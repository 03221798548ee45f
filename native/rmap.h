/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmapbench: the pieces every pte_list variant shares.
 *
 * An rmap head is one machine word per guest page:
 *   0               - empty
 *   bit 0 clear     - the word is the only spte pointer
 *   bit 0 set       - (word & ~1) points to the first pte_list_desc
 *
 * Each variant lives in its own pte_list_<variant>.c, built once per
 * PTE_LIST_EXT, and implements the interface declared at the bottom of
 * this file.  BUG() and WARN() never abort: they become a status returned
 * to the caller so that the harness can count and report them.
 */
#ifndef RMAPBENCH_RMAP_H
#define RMAPBENCH_RMAP_H

#include <stddef.h>
#include <stdint.h>

#ifndef PTE_LIST_EXT
#error "build with -DPTE_LIST_EXT=<slots per descriptor>"
#endif
#if PTE_LIST_EXT < 2 || PTE_LIST_EXT > 64
#error "PTE_LIST_EXT must be between 2 and 64"
#endif

typedef uint64_t u64;
typedef uint32_t u32;

struct kvm_rmap_head {
	unsigned long val;
};

/* What BUG()/WARN() turn into. */
enum rmap_status {
	RMAP_OK = 0,
	RMAP_WARN = 1,
	RMAP_BUG = 2,
};

/*
 * The descriptor allocator: a model of the kernel's pte_list_desc slab
 * plus the per-vCPU memory cache.  See alloc.c.
 */
enum rmap_alloc_mode {
	RMAP_ALLOC_BUMP = 0,	/* sequential, freed objects never reused */
	RMAP_ALLOC_SLAB = 1,	/* LIFO free list reuse */
	RMAP_ALLOC_SCATTER = 2,	/* shuffled slots of a large arena */
	RMAP_ALLOC_LIBC = 3,	/* one aligned_alloc()/free() each: for sanitizers */
};

struct rmap_cache;

struct rmap_cache *rmap_cache_create(int mode, size_t obj_size,
				     size_t expected, u64 seed);
void rmap_cache_destroy(struct rmap_cache *cache);
int rmap_cache_reset(struct rmap_cache *cache);
void *mmu_alloc_pte_list_desc(struct rmap_cache *cache);
void mmu_free_pte_list_desc(struct rmap_cache *cache, void *desc);
long rmap_cache_live(const struct rmap_cache *cache);
long rmap_cache_peak(const struct rmap_cache *cache);
long rmap_cache_allocs(const struct rmap_cache *cache);
size_t rmap_cache_obj_size(const struct rmap_cache *cache);
size_t rmap_cache_arena_bytes(const struct rmap_cache *cache);

/* Visitor for pte_list_walk(): called once per spte, in walk order. */
typedef void (*rmap_visit_fn)(u64 *sptep, void *arg);

/* ---- the interface each pte_list_<variant>.c implements ---- */

/* Returns what the variant returns (the count "before" by contract). */
int pte_list_add(struct rmap_cache *cache, u64 *spte,
		 struct kvm_rmap_head *rmap_head);
/* Returns RMAP_OK, RMAP_WARN or RMAP_BUG. */
int pte_list_remove(struct rmap_cache *cache, u64 *spte,
		    struct kvm_rmap_head *rmap_head);
/* Visits every spte in the variant's walk order; returns how many. */
unsigned int pte_list_walk(struct kvm_rmap_head *rmap_head,
			   rmap_visit_fn fn, void *arg);
unsigned int pte_list_count(struct kvm_rmap_head *rmap_head);
/*
 * Slot-exact layout for `rmapbench trace`: out[0] = number of descriptors,
 * then PTE_LIST_EXT raw slot values per descriptor, first descriptor first.
 * Only called for heads in the "many" form.  Returns words written, or -1
 * when cap is too small.
 */
int pte_list_dump(struct kvm_rmap_head *rmap_head, unsigned long *out, int cap);

extern const char pte_list_variant[];
extern const size_t pte_list_desc_size;

#define rmap_head_desc(head) ((void *)((head)->val & ~1ul))

#endif
