// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "old": the rmap as it was in mainline before the 2013 redesign.
 *
 * Descriptors form a chain from the head; each holds PTE_LIST_EXT spte
 * slots followed by the `more` pointer.  New sptes go to the first free
 * slot of the first descriptor whose last slot is empty, appending a
 * descriptor at the tail when every descriptor is full.  A removal fills
 * the hole from the highest used slot of the same descriptor, and a
 * descriptor that empties is unlinked and freed.  Once a head has gone to
 * the "many" form it never goes back to a single pointer.
 *
 * Known deviation kept on purpose: when add appends a tail descriptor it
 * does not count the full descriptor it leaves behind, so the return value
 * undercounts by PTE_LIST_EXT in that case.
 */
#include "rmap.h"

struct pte_list_desc {
	u64 *sptes[PTE_LIST_EXT];
	struct pte_list_desc *more;
};


int pte_list_add(struct rmap_cache *cache, u64 *spte,
		 struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;
	int i, count = 0;

	if (!rmap_head->val) {
		RMAP_STORE(rmap_head->val, (unsigned long)spte);
	} else if (!(rmap_head->val & 1)) {
		desc = mmu_alloc_pte_list_desc(cache);
		RMAP_STORE(desc->sptes[0], (u64 *)rmap_head->val);
		RMAP_STORE(desc->sptes[1], spte);
		RMAP_STORE(rmap_head->val, (unsigned long)desc | 1);
		++count;
	} else {
		desc = rmap_head_desc(rmap_head);
		while (desc->sptes[PTE_LIST_EXT - 1] && desc->more) {
			desc = desc->more;
			count += PTE_LIST_EXT;
		}
		if (desc->sptes[PTE_LIST_EXT - 1]) {
			/* the full descriptor left behind is not counted */
			RMAP_STORE(desc->more, mmu_alloc_pte_list_desc(cache));
			desc = desc->more;
		}
		for (i = 0; desc->sptes[i]; ++i)
			++count;
		RMAP_STORE(desc->sptes[i], spte);
	}
	return count;
}

static void
pte_list_desc_remove_entry(struct rmap_cache *cache,
			   struct kvm_rmap_head *rmap_head,
			   struct pte_list_desc *desc, int i,
			   struct pte_list_desc *prev_desc)
{
	int j;

	/* fill the hole from the highest used slot of this descriptor */
	for (j = PTE_LIST_EXT - 1; !desc->sptes[j] && j > i; --j)
		;
	RMAP_STORE(desc->sptes[i], desc->sptes[j]);
	RMAP_STORE(desc->sptes[j], NULL);
	if (j != 0)
		return;
	/*
	 * The descriptor is empty.  The kernel wrote sptes[0] (now NULL) into
	 * the head here, so the only descriptor's head becomes 0: the list
	 * never returns to the single-pointer form.
	 */
	if (!prev_desc && !desc->more)
		RMAP_STORE(rmap_head->val, (unsigned long)desc->sptes[0]);
	else if (prev_desc)
		RMAP_STORE(prev_desc->more, desc->more);
	else
		RMAP_STORE(rmap_head->val, (unsigned long)desc->more | 1);
	mmu_free_pte_list_desc(cache, desc);
}

int pte_list_remove(struct rmap_cache *cache, u64 *spte,
		    struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc, *prev_desc;
	int i;

	if (!rmap_head->val)
		return RMAP_BUG;	/* pte_list_remove: 0->BUG */

	if (!(rmap_head->val & 1)) {
		if ((u64 *)rmap_head->val != spte)
			return RMAP_BUG;	/* pte_list_remove: 1->BUG */
		RMAP_STORE(rmap_head->val, 0);
		return RMAP_OK;
	}

	desc = rmap_head_desc(rmap_head);
	prev_desc = NULL;
	while (desc) {
		for (i = 0; i < PTE_LIST_EXT && desc->sptes[i]; ++i) {
			if (desc->sptes[i] == spte) {
				pte_list_desc_remove_entry(cache, rmap_head,
							   desc, i, prev_desc);
				return RMAP_OK;
			}
		}
		prev_desc = desc;
		desc = desc->more;
	}
	return RMAP_BUG;	/* pte_list_remove: many->many */
}

#include "pte_list_walk.h"

PTE_LIST_DECLARE("old", PTE_LIST_WALK_FWD_NULL,
		 PTE_LIST_NO_FIELD, PTE_LIST_NO_FIELD, 0);
