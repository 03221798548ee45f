// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "kvm-2021": PTE_LIST_EXT raised to 14 with a per-descriptor
 * spte_count placed before the slots, so that `more`, the count and 14
 * slots fill two cache lines (128 bytes).
 *
 * add walks to the first descriptor that is not full, appending a tail
 * descriptor when all are full, and stores at its spte_count.  The value
 * returned counts PTE_LIST_EXT per full descriptor passed plus the reached
 * descriptor's count: entries in descriptors after the first non-full one
 * are not counted (kept on purpose).  A removal fills the hole from the
 * last entry of the same descriptor; an emptied descriptor is unlinked and
 * freed.  The list never returns to the single-pointer form.
 */
#include "rmap.h"

struct pte_list_desc {
	struct pte_list_desc *more;
	/* number of valid sptes in this descriptor */
	int spte_count;
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
		RMAP_STORE(rmap_head->val, (unsigned long)desc | 1);
		++count;
	} else {
		desc = rmap_head_desc(rmap_head);
		while (desc->spte_count == PTE_LIST_EXT) {
			count += PTE_LIST_EXT;
			if (!desc->more) {
				RMAP_STORE(desc->more, mmu_alloc_pte_list_desc(cache));
				desc = desc->more;
				RMAP_STORE(desc->spte_count, 0);
				break;
			}
			desc = desc->more;
		}
		count += desc->spte_count;
		RMAP_STORE(desc->spte_count, desc->spte_count + 1);
		RMAP_STORE(desc->sptes[desc->spte_count - 1], spte);
	}
	return count;
}

static void
pte_list_desc_remove_entry(struct rmap_cache *cache,
			   struct kvm_rmap_head *rmap_head,
			   struct pte_list_desc *desc, int i,
			   struct pte_list_desc *prev_desc)
{
	int j = desc->spte_count - 1;

	RMAP_STORE(desc->sptes[i], desc->sptes[j]);
	RMAP_STORE(desc->sptes[j], NULL);
	RMAP_STORE(desc->spte_count, desc->spte_count - 1);
	if (desc->spte_count)
		return;
	if (!prev_desc && !desc->more)
		RMAP_STORE(rmap_head->val, 0);
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
		for (i = 0; i < desc->spte_count; ++i) {
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

#define PTE_LIST_DESC_COUNTED 1
#include "pte_list_walk.h"

PTE_LIST_DECLARE("kvm-2021", PTE_LIST_WALK_FWD_COUNT,
		 PTE_LIST_FIELD(spte_count), PTE_LIST_NO_FIELD, 0);
