// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "kvm-2023": head-only operations.
 *
 * Every add and remove works on the first descriptor, and every other
 * descriptor is kept full.  Each descriptor carries its own spte_count and
 * tail_count, the number of sptes in all the descriptors after it, so
 * add's return value and pte_list_count() are exact and O(1).
 *
 * add: when the first descriptor is full, a new first descriptor is
 * inserted whose tail_count is the old total.  remove: the hole, wherever
 * it is, is filled with the last entry of the first descriptor, and the
 * first descriptor is freed when it empties.  Failures are BUGs.
 */
#include "rmap.h"

struct pte_list_desc {
	struct pte_list_desc *more;
	/* the number of sptes stored in this descriptor */
	u32 spte_count;
	/* the number of sptes in all the descriptors after this one */
	u32 tail_count;
	u64 *sptes[PTE_LIST_EXT];
};


int pte_list_add(struct rmap_cache *cache, u64 *spte,
		 struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;
	int count = 0;

	if (!rmap_head->val) {
		RMAP_STORE(rmap_head->val, (unsigned long)spte);
	} else if (!(rmap_head->val & 1)) {
		desc = mmu_alloc_pte_list_desc(cache);
		RMAP_STORE(desc->sptes[0], (u64 *)rmap_head->val);
		RMAP_STORE(desc->sptes[1], spte);
		RMAP_STORE(desc->spte_count, 2);
		RMAP_STORE(desc->tail_count, 0);
		RMAP_STORE(rmap_head->val, (unsigned long)desc | 1);
		++count;
	} else {
		desc = rmap_head_desc(rmap_head);
		count = desc->tail_count + desc->spte_count;

		/* The first descriptor is full: put a new one in front. */
		if (desc->spte_count == PTE_LIST_EXT) {
			struct pte_list_desc *new_desc;

			new_desc = mmu_alloc_pte_list_desc(cache);
			RMAP_STORE(new_desc->more, desc);
			RMAP_STORE(new_desc->spte_count, 0);
			RMAP_STORE(new_desc->tail_count, count);
			RMAP_STORE(rmap_head->val, (unsigned long)new_desc | 1);
			desc = new_desc;
		}
		RMAP_STORE(desc->spte_count, desc->spte_count + 1);
		RMAP_STORE(desc->sptes[desc->spte_count - 1], spte);
	}
	return count;
}

static void
pte_list_desc_remove_entry(struct rmap_cache *cache,
			   struct kvm_rmap_head *rmap_head,
			   struct pte_list_desc *desc, u32 i)
{
	struct pte_list_desc *head_desc = rmap_head_desc(rmap_head);
	int j = head_desc->spte_count - 1;

	/* Fill the hole with the last entry of the first descriptor. */
	RMAP_STORE(desc->sptes[i], head_desc->sptes[j]);
	RMAP_STORE(head_desc->sptes[j], NULL);

	if (RMAP_STORE(head_desc->spte_count, head_desc->spte_count - 1))
		return;

	if (!head_desc->more)
		RMAP_STORE(rmap_head->val, 0);
	else
		RMAP_STORE(rmap_head->val, (unsigned long)head_desc->more | 1);
	mmu_free_pte_list_desc(cache, head_desc);
}

int pte_list_remove(struct rmap_cache *cache, u64 *spte,
		    struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;
	u32 i;

	if (!rmap_head->val)
		return RMAP_BUG;	/* pte_list_remove: 0->BUG */

	if (!(rmap_head->val & 1)) {
		if ((u64 *)rmap_head->val != spte)
			return RMAP_BUG;	/* pte_list_remove: 1->BUG */
		RMAP_STORE(rmap_head->val, 0);
		return RMAP_OK;
	}

	for (desc = rmap_head_desc(rmap_head); desc; desc = desc->more) {
		for (i = 0; i < desc->spte_count; ++i) {
			if (desc->sptes[i] == spte) {
				pte_list_desc_remove_entry(cache, rmap_head,
							   desc, i);
				return RMAP_OK;
			}
		}
	}
	return RMAP_BUG;	/* pte_list_remove: many->many */
}

unsigned int pte_list_count(struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;

	if (!rmap_head->val)
		return 0;
	if (!(rmap_head->val & 1))
		return 1;
	desc = rmap_head_desc(rmap_head);
	return desc->spte_count + desc->tail_count;
}

#define PTE_LIST_DESC_COUNTED 1
#define PTE_LIST_HAS_COUNT 1
#include "pte_list_walk.h"

PTE_LIST_DECLARE("kvm-2023", PTE_LIST_WALK_FWD_COUNT,
		 PTE_LIST_FIELD(spte_count), PTE_LIST_FIELD(tail_count), 0);
