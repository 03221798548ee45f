/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The forward rmap walks and the count, for a variant to include after it
 * has defined struct pte_list_desc (the slot dump is the suite's, read
 * through the declared layout: api.c).
 *
 * Variants without a per-descriptor counter (old, new, new-fixed) visit a
 * descriptor's slots in increasing index and stop at its first empty slot.
 * Variants that define PTE_LIST_DESC_COUNTED (kvm-2021, kvm-2023) stop at
 * the descriptor's spte_count.  Either way the walk goes from the first
 * descriptor to the last, as for_each_rmap_spte() does.
 *
 * A variant with an O(1) count defines PTE_LIST_HAS_COUNT and provides
 * pte_list_count() itself; one with a walk order of its own defines
 * PTE_LIST_HAS_WALK and provides pte_list_walk().  Either way the walk
 * kind it declares with PTE_LIST_DECLARE (rmap.h) must be the one its
 * pte_list_walk() follows: PTE_LIST_WALK_FWD_NULL for the uncounted walk
 * here, PTE_LIST_WALK_FWD_COUNT for the counted one.
 */
#ifndef PTE_LIST_DESC_COUNTED
#define desc_used(desc, i) ((i) < PTE_LIST_EXT && (desc)->sptes[i])
#else
#define desc_used(desc, i) ((i) < (int)(desc)->spte_count)
#endif

#ifndef PTE_LIST_HAS_WALK
unsigned int pte_list_walk(struct kvm_rmap_head *rmap_head,
			   rmap_visit_fn fn, void *arg)
{
	struct pte_list_desc *desc;
	unsigned int n = 0;
	int i;

	if (!rmap_head->val)
		return 0;
	if (!(rmap_head->val & 1)) {
		fn((u64 *)rmap_head->val, arg);
		return 1;
	}
	for (desc = rmap_head_desc(rmap_head); desc; desc = desc->more)
		for (i = 0; desc_used(desc, i); ++i, ++n)
			fn(desc->sptes[i], arg);
	return n;
}

#endif

#ifndef PTE_LIST_HAS_COUNT
unsigned int pte_list_count(struct kvm_rmap_head *rmap_head)
{
	struct pte_list_desc *desc;
	unsigned int n = 0;
	int i;

	if (!rmap_head->val)
		return 0;
	if (!(rmap_head->val & 1))
		return 1;
	for (desc = rmap_head_desc(rmap_head); desc; desc = desc->more)
		for (i = 0; desc_used(desc, i); ++i)
			n++;
	return n;
}
#endif
