/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmapbench: the pieces every pte_list variant shares.
 *
 * An rmap head is one machine word per guest page:
 *   0               - empty
 *   bit 0 clear     - the word is the only spte pointer
 *   bit 0 set       - (word & ~3) points to the first pte_list_desc
 *   bit 1           - KVM_RMAP_LOCKED, only in variants that declare
 *                     PTE_LIST_HEAD_LOCK (see below)
 *
 * Each variant lives in its own C file (the built-ins in
 * pte_list_<variant>.c; a user's anywhere), built once per PTE_LIST_EXT,
 * and implements the interface declared at the bottom of this file.  BUG() and WARN() never abort: they become a status returned
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
	RMAP_ALLOC_TRACK = 4,	/* bump, and every alloc and free logged: check */
};

struct rmap_cache;

/* huge: arena chunks of 2 MiB or more on 2 MiB pages (alloc.c, "Page size") */
struct rmap_cache *rmap_cache_create(int mode, size_t obj_size,
				     size_t expected, u64 seed, int huge);
void rmap_cache_destroy(struct rmap_cache *cache);
int rmap_cache_reset(struct rmap_cache *cache);
/* Fault in memory for writing, untimed (alloc.c); its contents stay. */
void rb_populate(void *p, size_t bytes);
/* Kernel memory (descriptor arenas, shadow pages) and its page size (alloc.c). */
void *rb_kmem_alloc(size_t bytes, size_t align, int huge, size_t *placed);
void rb_kmem_free(void *p, size_t placed);
void rb_small_pages(void *p, size_t bytes);
void *mmu_alloc_pte_list_desc(struct rmap_cache *cache);
void mmu_free_pte_list_desc(struct rmap_cache *cache, void *desc);
long rmap_cache_live(const struct rmap_cache *cache);
long rmap_cache_peak(const struct rmap_cache *cache);
long rmap_cache_allocs(const struct rmap_cache *cache);
size_t rmap_cache_obj_size(const struct rmap_cache *cache);
size_t rmap_cache_arena_bytes(const struct rmap_cache *cache);
/*
 * RMAP_ALLOC_TRACK: the allocs and frees since the last rewind, in order;
 * an entry is the object's address, with bit 0 set for a free.  Returns
 * the number of entries (more than cap when some did not fit).
 */
int rmap_cache_track_log(const struct rmap_cache *cache, unsigned long *out,
			 int cap);
/* RMAP_ALLOC_TRACK: forget every object, live or not; 0 or -EINVAL. */
int rmap_cache_rewind(struct rmap_cache *cache);

/*
 * RMAP_STORE(x, val): a writer's store to a word a lockless walker may read
 * (the head, or a descriptor's slot, `more`, count or tail count); its
 * value is val, as an assignment's is.  In the benchmark's build it is the
 * plain assignment (x) = (val) and nothing else; a variant that wants the
 * kernel's WRITE_ONCE() wraps the volatile store in it
 * (pte_list_kvm2023_lf.c).  In check's build of a variant
 * (RMAP_CHECK_STORES, bench/race.py) every such store is followed by a
 * call to rmap_check_store() (api.c), where the race explorer can stop the
 * op and run walker steps between two of its stores.  A store that does
 * not go through it is seen only together with the next one that does, or
 * with the end of the op.  x is evaluated more than once: no side effects
 * in it.
 */
#ifdef RMAP_CHECK_STORES
void rmap_check_store(const volatile void *p, unsigned int size);
#define RMAP_STORE(x, val)						\
	({								\
		__typeof__(x) __rmap_v = (val);				\
		(x) = __rmap_v;						\
		rmap_check_store(&(x), sizeof(x));			\
		__rmap_v;						\
	})
#else
#define RMAP_STORE(x, val)	((x) = (val))
#endif

/* Visitor for pte_list_walk(): called once per spte, in walk order. */
typedef void (*rmap_visit_fn)(u64 *sptep, void *arg);

/* ---- the interface each pte_list_<variant>.c implements ---- */

/*
 * A variant is one C file (docs/variants.md has a template).  It defines
 * struct pte_list_desc, implements the four functions below and ends with
 * one PTE_LIST_DECLARE(...) line, which states what a lockless walker and
 * the suite's slot dump need to know about the descriptor.  Everything
 * else in this file (the allocator, the head word, the dump) is the
 * suite's.
 *
 * Status codes: pte_list_remove() returns RMAP_OK, RMAP_WARN (where the
 * kernel would WARN()) or RMAP_BUG (where it would BUG()); it never aborts.
 */

/*
 * Adds spte to the head.  Returns what the variant returns: by contract
 * the number of sptes in the list before this add (DESIGN.md section 2),
 * deviations included.
 */
int pte_list_add(struct rmap_cache *cache, u64 *spte,
		 struct kvm_rmap_head *rmap_head);
/* Removes spte from the head.  Returns RMAP_OK, RMAP_WARN or RMAP_BUG. */
int pte_list_remove(struct rmap_cache *cache, u64 *spte,
		    struct kvm_rmap_head *rmap_head);
/*
 * Visits every spte in the variant's walk order (the one declared below);
 * returns how many.  pte_list_walk.h provides the forward walks.
 */
unsigned int pte_list_walk(struct kvm_rmap_head *rmap_head,
			   rmap_visit_fn fn, void *arg);
/* The number of sptes in the list.  pte_list_walk.h provides a counting one. */
unsigned int pte_list_count(struct kvm_rmap_head *rmap_head);

/* ---- what the suite reads from the declaration (iface.c exports it) ---- */

/*
 * The head word's low bits.  Descriptors are cache-line aligned and sptes
 * 8-byte aligned, so both bits are free in any pointer stored there.
 * KVM_RMAP_LOCKED is only ever set by a variant that declares
 * PTE_LIST_HEAD_LOCK, and only while an operation or a walker holds it.
 */
#define KVM_RMAP_MANY		1ul
#define KVM_RMAP_LOCKED		2ul

/* The first descriptor of a head in the "many" form. */
#define rmap_head_desc(head) \
	((void *)((head)->val & ~(KVM_RMAP_MANY | KVM_RMAP_LOCKED)))

/*
 * How a lockless walker reads a head (DESIGN.md section 7).  Every walk
 * reads the head word, then each descriptor from the first to the last by
 * its `more` pointer; inside a descriptor:
 *
 *   PTE_LIST_WALK_FWD_NULL   slots 0, 1, ... up to the first empty slot
 *                            or PTE_LIST_EXT (no count field needed);
 *   PTE_LIST_WALK_FWD_COUNT  slots 0, 1, ... while i < count, the count
 *                            re-read before every slot (as
 *                            for (i = 0; i < desc->spte_count; i++) does);
 *   PTE_LIST_WALK_REV_COUNT  the count read once on entering, then slots
 *                            count-1 down to 0, empty slots skipped.
 */
enum pte_list_walk_kind {
	PTE_LIST_WALK_FWD_NULL = 0,
	PTE_LIST_WALK_FWD_COUNT = 1,
	PTE_LIST_WALK_REV_COUNT = 2,
};

/*
 * Flags.  PTE_LIST_HEAD_LOCK: bit 1 of the head word (KVM_RMAP_LOCKED) is a
 * per-head lock that writers take, with an atomic compare-and-exchange,
 * around every add and remove, and that a walker running without mmu_lock
 * takes for its whole walk.
 */
#define PTE_LIST_HEAD_LOCK	1u
#define PTE_LIST_FLAGS_KNOWN	PTE_LIST_HEAD_LOCK

/* A descriptor field: byte offset and size; off -1 when there is none. */
struct pte_list_field {
	int off;
	int size;
};

struct pte_list_layout {
	const char *name;	/* NULL: the suite names it after the file */
	int ext;		/* PTE_LIST_EXT */
	int desc_size;		/* sizeof(struct pte_list_desc) */
	struct pte_list_field sptes;	/* u64 *sptes[PTE_LIST_EXT] */
	struct pte_list_field more;	/* struct pte_list_desc *more */
	struct pte_list_field count;	/* this descriptor's sptes: 4 or 8 bytes */
	struct pte_list_field tail;	/* sptes in the descriptors after it */
	int walk;			/* enum pte_list_walk_kind */
	unsigned int flags;		/* PTE_LIST_HEAD_LOCK */
};

extern const struct pte_list_layout pte_list_layout;
extern const size_t pte_list_desc_size;

/* A field of the file's own struct pte_list_desc, for PTE_LIST_DECLARE. */
#define PTE_LIST_FIELD(f)						\
	{ (int)offsetof(struct pte_list_desc, f),			\
	  (int)sizeof(((struct pte_list_desc *)0)->f) }
#define PTE_LIST_NO_FIELD	{ -1, 0 }

/*
 * The declaration every variant file ends with (after its struct and its
 * functions), e.g.
 *
 *   PTE_LIST_DECLARE("kvm-2023", PTE_LIST_WALK_FWD_COUNT,
 *                    PTE_LIST_FIELD(spte_count), PTE_LIST_FIELD(tail_count), 0);
 *   PTE_LIST_DECLARE(NULL, PTE_LIST_WALK_FWD_NULL,
 *                    PTE_LIST_NO_FIELD, PTE_LIST_NO_FIELD, 0);
 *
 * name: a string, or NULL for the file's stem; walk: enum
 * pte_list_walk_kind; count, tail: PTE_LIST_FIELD(member) or
 * PTE_LIST_NO_FIELD; flags: 0 or PTE_LIST_HEAD_LOCK.  The offsets come
 * from the struct itself, never written by hand; the struct must have
 * `u64 *sptes[PTE_LIST_EXT]` and `struct pte_list_desc *more`.  The suite
 * checks the rest (count and tail sizes, walk kind against the count) when
 * it loads the library and refuses a declaration that does not hold.
 */
#define PTE_LIST_DECLARE(vname, walk_kind, count_f, tail_f, head_flags)	\
	_Static_assert(sizeof(((struct pte_list_desc *)0)->sptes) ==	\
		       PTE_LIST_EXT * sizeof(u64 *),			\
		       "struct pte_list_desc needs u64 *sptes[PTE_LIST_EXT]"); \
	_Static_assert(sizeof(((struct pte_list_desc *)0)->more) ==	\
		       sizeof(void *),					\
		       "struct pte_list_desc needs a pointer `more`");	\
	const size_t pte_list_desc_size = sizeof(struct pte_list_desc);	\
	const struct pte_list_layout pte_list_layout = {		\
		.name = (vname),					\
		.ext = PTE_LIST_EXT,					\
		.desc_size = (int)sizeof(struct pte_list_desc),		\
		.sptes = PTE_LIST_FIELD(sptes),				\
		.more = PTE_LIST_FIELD(more),				\
		.count = count_f,					\
		.tail = tail_f,						\
		.walk = (walk_kind),					\
		.flags = (head_flags),					\
	}

/*
 * Slot-exact layout for `rmapbench trace`, read through the declared
 * layout (api.c; a variant does not write it): out[0] = number of
 * descriptors, then PTE_LIST_EXT raw slot values per descriptor, first
 * descriptor first.  Only called for heads in the "many" form.  Returns
 * words written, or -ENOSPC when cap is too small.
 */
int pte_list_dump(struct kvm_rmap_head *rmap_head, unsigned long *out, int cap);

#endif
