// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "kvm-2025": kvm-2023 plus a per-head lock, as in current kernels
 * (v6.15 on), which age guest memory by walking rmaps without mmu_lock.
 *
 * The algorithm is kvm-2023's: every add and remove works on the first
 * descriptor, every other descriptor is full, spte_count and tail_count
 * make add's return value and pte_list_count() exact and O(1).
 *
 * The lock: bit 1 of the head word (KVM_RMAP_LOCKED), next to the "many"
 * bit 0; both are free because descriptors and sptes are aligned.  It is a
 * very small spinlock: wait while the bit is set, then compare-and-exchange
 * the head word from its value to the value with the bit set.  Every add
 * and remove takes it, reads the head word once (the value the lock
 * returned), works on a local copy, and releases it by storing the new head
 * value, without the bit, with release semantics: a walker that takes the
 * lock next sees everything the writer stored.  A walker running without
 * mmu_lock (aging) takes the same lock for its whole walk, so no add or
 * remove can move an spte under its feet; `rmapbench check` explores both
 * that walker and one that skips the lock (which misses sptes exactly as
 * under kvm-2023).  Writers still run under mmu_lock: the lock serialises
 * them only against the lockless walkers, so in this benchmark (one thread)
 * it is never contended and what it costs is one atomic read-modify-write
 * and one release store per add and remove.
 *
 * Walks under mmu_lock (pte_list_walk() here, the write-protect walk) do
 * not take the lock; they mask the bit out of the head word, since a
 * lockless walker may hold it while they run.
 *
 * Invariant: KVM_RMAP_LOCKED is set only between kvm_rmap_lock() and
 * kvm_rmap_unlock(); every path through add and remove unlocks, failures
 * included, by storing back the value it found.
 */
#include <stdbool.h>

#include "rmap.h"

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))

struct pte_list_desc {
	struct pte_list_desc *more;
	/* the number of sptes stored in this descriptor */
	u32 spte_count;
	/* the number of sptes in all the descriptors after this one */
	u32 tail_count;
	u64 *sptes[PTE_LIST_EXT];
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Take the head's lock: returns the head value the lock was taken on, with
 * KVM_RMAP_LOCKED clear.
 */
static unsigned long kvm_rmap_lock(struct kvm_rmap_head *rmap_head)
{
	unsigned long old_val, new_val;

	old_val = __atomic_load_n(&rmap_head->val, __ATOMIC_RELAXED);
	do {
		while (old_val & KVM_RMAP_LOCKED) {
			cpu_relax();
			old_val = __atomic_load_n(&rmap_head->val,
						  __ATOMIC_RELAXED);
		}
		new_val = old_val | KVM_RMAP_LOCKED;
	} while (!__atomic_compare_exchange_n(&rmap_head->val, &old_val,
					      new_val, false, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return old_val;
}

/* Publish the new head value and drop the lock in one store. */
static void kvm_rmap_unlock(struct kvm_rmap_head *rmap_head,
			    unsigned long new_val)
{
	/* the new value never carries the lock bit (WARN_ON in the kernel) */
	__atomic_store_n(&rmap_head->val, new_val & ~KVM_RMAP_LOCKED,
			 __ATOMIC_RELEASE);
}

static struct pte_list_desc *val_desc(unsigned long val)
{
	return (struct pte_list_desc *)(val & ~(KVM_RMAP_MANY | KVM_RMAP_LOCKED));
}

int pte_list_add(struct rmap_cache *cache, u64 *spte,
		 struct kvm_rmap_head *rmap_head)
{
	unsigned long old_val, new_val;
	struct pte_list_desc *desc;
	int count = 0;

	old_val = kvm_rmap_lock(rmap_head);

	if (!old_val) {
		new_val = (unsigned long)spte;
	} else if (!(old_val & KVM_RMAP_MANY)) {
		desc = mmu_alloc_pte_list_desc(cache);
		RMAP_STORE(desc->sptes[0], (u64 *)old_val);
		RMAP_STORE(desc->sptes[1], spte);
		RMAP_STORE(desc->spte_count, 2);
		RMAP_STORE(desc->tail_count, 0);
		new_val = (unsigned long)desc | KVM_RMAP_MANY;
		++count;
	} else {
		desc = val_desc(old_val);
		count = desc->tail_count + desc->spte_count;

		/* The first descriptor is full: put a new one in front. */
		if (desc->spte_count == PTE_LIST_EXT) {
			struct pte_list_desc *new_desc;

			new_desc = mmu_alloc_pte_list_desc(cache);
			RMAP_STORE(new_desc->more, desc);
			RMAP_STORE(new_desc->spte_count, 0);
			RMAP_STORE(new_desc->tail_count, count);
			desc = new_desc;
		}
		RMAP_STORE(desc->spte_count, desc->spte_count + 1);
		RMAP_STORE(desc->sptes[desc->spte_count - 1], spte);
		new_val = (unsigned long)desc | KVM_RMAP_MANY;
	}

	kvm_rmap_unlock(rmap_head, new_val);
	return count;
}

/*
 * Fill the hole at desc->sptes[i] with the last entry of the first
 * descriptor; returns the new head value.
 */
static unsigned long
pte_list_desc_remove_entry(struct rmap_cache *cache, unsigned long val,
			   struct pte_list_desc *desc, u32 i)
{
	struct pte_list_desc *head_desc = val_desc(val);
	int j = head_desc->spte_count - 1;

	RMAP_STORE(desc->sptes[i], head_desc->sptes[j]);
	RMAP_STORE(head_desc->sptes[j], NULL);

	if (RMAP_STORE(head_desc->spte_count, head_desc->spte_count - 1))
		return val;

	val = head_desc->more ? (unsigned long)head_desc->more | KVM_RMAP_MANY : 0;
	mmu_free_pte_list_desc(cache, head_desc);
	return val;
}

int pte_list_remove(struct rmap_cache *cache, u64 *spte,
		    struct kvm_rmap_head *rmap_head)
{
	unsigned long val = kvm_rmap_lock(rmap_head);
	struct pte_list_desc *desc;
	u32 i;

	if (!val)
		goto bug;	/* pte_list_remove: 0->BUG */

	if (!(val & KVM_RMAP_MANY)) {
		if ((u64 *)val != spte)
			goto bug;	/* pte_list_remove: 1->BUG */
		kvm_rmap_unlock(rmap_head, 0);
		return RMAP_OK;
	}

	for (desc = val_desc(val); desc; desc = desc->more) {
		for (i = 0; i < desc->spte_count; ++i) {
			if (desc->sptes[i] == spte) {
				val = pte_list_desc_remove_entry(cache, val,
								 desc, i);
				kvm_rmap_unlock(rmap_head, val);
				return RMAP_OK;
			}
		}
	}
bug:
	/* pte_list_remove: many->many; the list is left as it was */
	kvm_rmap_unlock(rmap_head, val);
	return RMAP_BUG;
}

/*
 * The walk under mmu_lock: forward, stopping at each descriptor's count,
 * with the lock bit masked out of the head (a lockless walker may hold it).
 */
unsigned int pte_list_walk(struct kvm_rmap_head *rmap_head,
			   rmap_visit_fn fn, void *arg)
{
	unsigned long val = READ_ONCE(rmap_head->val) & ~KVM_RMAP_LOCKED;
	struct pte_list_desc *desc;
	unsigned int n = 0;
	u32 i;

	if (!val)
		return 0;
	if (!(val & KVM_RMAP_MANY)) {
		fn((u64 *)val, arg);
		return 1;
	}
	for (desc = val_desc(val); desc; desc = desc->more)
		for (i = 0; i < desc->spte_count; ++i, ++n)
			fn(desc->sptes[i], arg);
	return n;
}

unsigned int pte_list_count(struct kvm_rmap_head *rmap_head)
{
	unsigned long val = READ_ONCE(rmap_head->val) & ~KVM_RMAP_LOCKED;
	struct pte_list_desc *desc;

	if (!val)
		return 0;
	if (!(val & KVM_RMAP_MANY))
		return 1;
	desc = val_desc(val);
	return desc->spte_count + desc->tail_count;
}

PTE_LIST_DECLARE("kvm-2025", PTE_LIST_WALK_FWD_COUNT,
		 PTE_LIST_FIELD(spte_count), PTE_LIST_FIELD(tail_count),
		 PTE_LIST_HEAD_LOCK);
