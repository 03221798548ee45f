// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "kvm-2023-lf": kvm-2023 with a walk order that a lockless
 * walker can follow without missing an spte.
 *
 * Layout, add, remove and count are kvm-2023's, unchanged: every add and
 * remove works on the first descriptor, every other descriptor is full,
 * spte_count and tail_count make add's return value and pte_list_count()
 * exact and O(1).
 *
 * Why kvm-2023 (and the 2013 seed) can miss an spte: a remove fills the
 * hole at slot i of some descriptor with the *last* entry of the first
 * descriptor, slot j = spte_count - 1.  A walker that reads slots in
 * increasing index has read slot i before slot j whenever the hole is in
 * the first descriptor itself and i < j (the review's "desc == first_desc
 * and i < last_used"): if the move happens between its two reads, the
 * moved spte lands behind the walker and slot j is empty by the time the
 * walker gets there.
 *
 * The change: the walk reads every descriptor from its last slot down to
 * slot 0 (descriptors still first to last), with the count read once on
 * entering the descriptor and empty slots skipped.  Then the slot every
 * move takes its entry from (the first descriptor's last used slot) is
 * always the first one the walker reads in that descriptor, and every hole
 * it can fill is either a lower slot of the same descriptor or a slot of a
 * later descriptor, both still ahead of the walker.  So an spte only ever
 * moves forward in walk order: a walker that has not read it yet will
 * still find it.  Inductively, every spte present at the start of a walk
 * and not removed during it is either already visited or sits ahead of the
 * walker; moves from a descriptor that only became the first one during
 * the walk (its predecessor emptied and was freed) obey the same rule,
 * which is why *every* descriptor, not just the first, is walked top down.
 * Sptes only enter a slot above a walker's position through an add, and a
 * walker need not see sptes added after it started.
 *
 * `rmapbench check` explores every interleaving of one such walker with up
 * to three atomic adds/removes (docs/check.md states the bounds) and finds
 * no miss, where it finds one for every other variant.
 *
 * Store order for real concurrency (beyond the explorer's atomic ops): the
 * move writes the hole before clearing the source and decrements the count
 * last, so a walker in between sees the spte twice, never zero times, and
 * a cleared slot below a stale count reads as empty and is skipped.
 * WRITE_ONCE/READ_ONCE keep the compiler from tearing or fusing those
 * accesses; x86 keeps stores in order, other architectures would need
 * smp_wmb() between them.  Freed descriptors must stay readable until
 * walkers are done (RCU), which the benchmark's allocator does not model.
 *
 * Cost against kvm-2023: add, remove and count are the same code; only
 * the walk's direction inside a descriptor changes (a descending stream
 * over the same cache lines).
 */
#include "rmap.h"

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val)	RMAP_STORE(*(volatile __typeof__(x) *)&(x), (val))

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
		WRITE_ONCE(rmap_head->val, (unsigned long)spte);
	} else if (!(rmap_head->val & 1)) {
		desc = mmu_alloc_pte_list_desc(cache);
		RMAP_STORE(desc->sptes[0], (u64 *)rmap_head->val);
		RMAP_STORE(desc->sptes[1], spte);
		RMAP_STORE(desc->spte_count, 2);
		RMAP_STORE(desc->tail_count, 0);
		WRITE_ONCE(rmap_head->val, (unsigned long)desc | 1);
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
			WRITE_ONCE(rmap_head->val, (unsigned long)new_desc | 1);
			desc = new_desc;
		}
		/* the slot first, then the count that makes it visible */
		WRITE_ONCE(desc->sptes[desc->spte_count], spte);
		WRITE_ONCE(desc->spte_count, desc->spte_count + 1);
	}
	return count;
}

static void
pte_list_desc_remove_entry(struct rmap_cache *cache,
			   struct kvm_rmap_head *rmap_head,
			   struct pte_list_desc *desc, u32 i)
{
	struct pte_list_desc *head_desc = rmap_head_desc(rmap_head);
	u32 j = head_desc->spte_count - 1;

	/*
	 * Fill the hole with the first descriptor's last entry: the slot a
	 * walker reads first, so the entry moves forward in walk order.
	 * Write the hole before clearing the source.
	 */
	WRITE_ONCE(desc->sptes[i], head_desc->sptes[j]);
	WRITE_ONCE(head_desc->sptes[j], NULL);
	WRITE_ONCE(head_desc->spte_count, j);

	if (j)
		return;

	if (!head_desc->more)
		WRITE_ONCE(rmap_head->val, 0);
	else
		WRITE_ONCE(rmap_head->val, (unsigned long)head_desc->more | 1);
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
		WRITE_ONCE(rmap_head->val, 0);
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

/*
 * The walk: descriptors first to last, each from its last used slot down
 * to slot 0.  The count is read once per descriptor; a slot emptied since
 * then reads as NULL and is skipped.  Under the lock there are no NULLs
 * below the count and this visits exactly the sptes of the head.
 */
unsigned int pte_list_walk(struct kvm_rmap_head *rmap_head,
			   rmap_visit_fn fn, void *arg)
{
	unsigned long val = READ_ONCE(rmap_head->val);
	struct pte_list_desc *desc;
	unsigned int n = 0;
	u64 *spte;
	int i;

	if (!val)
		return 0;
	if (!(val & 1)) {
		fn((u64 *)val, arg);
		return 1;
	}
	for (desc = (struct pte_list_desc *)(val & ~1ul); desc;
	     desc = READ_ONCE(desc->more)) {
		for (i = (int)READ_ONCE(desc->spte_count) - 1; i >= 0; --i) {
			spte = READ_ONCE(desc->sptes[i]);
			if (spte) {
				fn(spte, arg);
				n++;
			}
		}
	}
	return n;
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

/* count from the shared piece; the walk is the one above */
#define PTE_LIST_DESC_COUNTED 1
#define PTE_LIST_HAS_COUNT 1
#define PTE_LIST_HAS_WALK 1
#include "pte_list_walk.h"

PTE_LIST_DECLARE("kvm-2023-lf", PTE_LIST_WALK_REV_COUNT,
		 PTE_LIST_FIELD(spte_count), PTE_LIST_FIELD(tail_count), 0);
