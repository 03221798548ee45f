// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "new": the 2013 redesign exactly as posted for review.
 *
 *  1) add always works on the first descriptor: when its last slot is
 *     used, a new descriptor is inserted at the front of the chain;
 *  2) remove fills the hole with the last used entry of the *first*
 *     descriptor, so every descriptor but the first stays full.
 *
 * Deviations the review found, kept on purpose:
 *  - add returns count_spte_number() after storing, i.e. the count
 *    *after* the add, not before it (off by one);
 *  - BUG() became WARN(): removing from an empty list warns; removing
 *    another spte from a single-pointer head warns *and clears the head*;
 *    an spte not found in a chain warns;
 *  - a hole in the first descriptor itself is still filled from a higher
 *    slot, so a lockless walker can miss the moved spte (see `check`).
 *
 * Built with PTE_LIST_NEW_FIXED (pte_list_new_fixed.c) it becomes
 * "new-fixed": add returns the count before the add and the failures are
 * BUGs again, with the list left as it was.  The move rule is unchanged.
 */
#include "rmap.h"

struct pte_list_desc {
	u64 *sptes[PTE_LIST_EXT];
	struct pte_list_desc *more;
};

#ifdef PTE_LIST_NEW_FIXED
#define PTE_LIST_NAME "new-fixed"
#define PTE_LIST_FAIL RMAP_BUG
#else
#define PTE_LIST_NAME "new"
#define PTE_LIST_FAIL RMAP_WARN
#endif

static int __find_first_free(struct pte_list_desc *desc)
{
	int i;

	for (i = 0; i < PTE_LIST_EXT; i++)
		if (!desc->sptes[i])
			break;
	return i;
}

static int find_first_free(struct pte_list_desc *desc)
{
	/* WARN_ON(free >= PTE_LIST_EXT): add makes room first, never fires */
	return __find_first_free(desc);
}

static int find_last_used(struct pte_list_desc *desc)
{
	/* WARN_ON(used < 0): the first descriptor is never empty here */
	return __find_first_free(desc) - 1;
}

/*
 * The patch's own TODO: the count is the first descriptor's used slots
 * plus PTE_LIST_EXT for every descriptor after it, found by walking the
 * whole chain, so add is O(chain length).
 */
static int count_spte_number(struct pte_list_desc *desc)
{
	int first_free, desc_num;

	first_free = __find_first_free(desc);

	for (desc_num = 0; desc->more; desc = desc->more)
		desc_num++;

	return first_free + desc_num * PTE_LIST_EXT;
}

int pte_list_add(struct rmap_cache *cache, u64 *spte,
		 struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;
	int free_pos;

	if (!rmap_head->val) {
		RMAP_STORE(rmap_head->val, (unsigned long)spte);
		return 0;
	}

	if (!(rmap_head->val & 1)) {
		desc = mmu_alloc_pte_list_desc(cache);
		RMAP_STORE(desc->sptes[0], (u64 *)rmap_head->val);
		RMAP_STORE(desc->sptes[1], spte);
		RMAP_STORE(rmap_head->val, (unsigned long)desc | 1);
		return 1;
	}

	desc = rmap_head_desc(rmap_head);

	/* No empty position in the first desc: put a new one in front. */
	if (desc->sptes[PTE_LIST_EXT - 1]) {
		struct pte_list_desc *new_desc;

		new_desc = mmu_alloc_pte_list_desc(cache);
		RMAP_STORE(new_desc->more, desc);
		desc = new_desc;
		RMAP_STORE(rmap_head->val, (unsigned long)desc | 1);
	}

	free_pos = find_first_free(desc);
	RMAP_STORE(desc->sptes[free_pos], spte);
#ifdef PTE_LIST_NEW_FIXED
	return count_spte_number(desc) - 1;
#else
	return count_spte_number(desc);	/* the count after the add */
#endif
}

static int
pte_list_desc_remove_entry(struct rmap_cache *cache,
			   struct kvm_rmap_head *rmap_head,
			   struct pte_list_desc *desc, int i)
{
	struct pte_list_desc *first_desc;
	int last_used;

	first_desc = rmap_head_desc(rmap_head);
	last_used = find_last_used(first_desc);

	/*
	 * Move the last entry of the first desc into the hole.  When the
	 * hole is in the first desc itself and i < last_used, this still
	 * moves an spte backwards, under a lockless walker's feet.
	 */
	RMAP_STORE(desc->sptes[i], first_desc->sptes[last_used]);
	RMAP_STORE(first_desc->sptes[last_used], NULL);

	/* No valid entry in the first desc: free it. */
	if (!first_desc->sptes[0]) {
		struct pte_list_desc *next_desc = first_desc->more;

		mmu_free_pte_list_desc(cache, first_desc);
		if (!next_desc) {
			/*
			 * WARN_ON(!next_desc): unreachable, because a lone
			 * descriptor with one entry goes back to the single
			 * form below.  The patch would store 0|1 here; keep
			 * the head sane instead.
			 */
			RMAP_STORE(rmap_head->val, 0);
			return RMAP_WARN;
		}
		RMAP_STORE(rmap_head->val, (unsigned long)next_desc | 1);
		return RMAP_OK;
	}

	/* Only one entry left and no other desc: back to a single pointer. */
	if (!first_desc->sptes[1] && !first_desc->more) {
		RMAP_STORE(rmap_head->val, (unsigned long)first_desc->sptes[0]);
		mmu_free_pte_list_desc(cache, first_desc);
	}
	return RMAP_OK;
}

int pte_list_remove(struct rmap_cache *cache, u64 *spte,
		    struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;
	int i;

	if (!rmap_head->val)
		return PTE_LIST_FAIL;	/* pte_list_remove: 0->BUG */

	if (!(rmap_head->val & 1)) {
		if ((u64 *)rmap_head->val != spte) {
#ifdef PTE_LIST_NEW_FIXED
			return RMAP_BUG;	/* 1->BUG, head kept */
#else
			RMAP_STORE(rmap_head->val, 0);	/* WARN, and the head is lost */
			return RMAP_WARN;
#endif
		}
		RMAP_STORE(rmap_head->val, 0);
		return RMAP_OK;
	}

	desc = rmap_head_desc(rmap_head);
	while (desc) {
		for (i = 0; i < PTE_LIST_EXT && desc->sptes[i]; ++i)
			if (desc->sptes[i] == spte)
				return pte_list_desc_remove_entry(cache, rmap_head,
								  desc, i);
		desc = desc->more;
	}
	return PTE_LIST_FAIL;	/* pte_list_remove: many->many */
}

#include "pte_list_walk.h"

PTE_LIST_DECLARE(PTE_LIST_NAME, PTE_LIST_WALK_FWD_NULL,
		 PTE_LIST_NO_FIELD, PTE_LIST_NO_FIELD, 0);
