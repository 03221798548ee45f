/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmapbench: the kernel facilities an imported pte_list uses, mapped onto
 * the suite's own.  `rmapbench import` copies the pte_list code of a
 * kernel tree's mmu.c as written into a generated variant file that
 * includes this header first; nothing here changes what the list code
 * does to the rmap head or to a descriptor.  docs/import.md lists every
 * mapping.
 *
 *   allocation   the vCPU, kvm_mmu_memory_cache and struct kvm arguments
 *                are the suite's struct rmap_cache (alloc.c); the kernel's
 *                one-argument free uses the cache of the running op
 *   BUG()        stops the op (as the kernel stops the thread) and the
 *                generated wrapper returns RMAP_BUG; BUG_ON(c) likewise
 *   WARN*()      records RMAP_WARN and goes on, returning the condition
 *   KVM_BUG_ON*  records RMAP_BUG and goes on, returning the condition
 *                (CONFIG_BUG_ON_DATA_CORRUPTION=n, the default)
 *   printk, pr_*, rmap_printk, lockdep, preemption: nothing, arguments
 *                not evaluated (production builds: MMU_DEBUG and
 *                CONFIG_KVM_PROVE_MMU off, so KVM_MMU_WARN_ON is nothing)
 *   atomics, READ_ONCE/WRITE_ONCE, cmpxchg: the compiler's __atomic builtins
 *   is_shadow_present_pte(): true, without reading the spte (the rmap only
 *                stores and compares spte pointers; `trace` passes pointers
 *                that are never dereferenced)
 */
#ifndef RMAPBENCH_KSHIM_H
#define RMAPBENCH_KSHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <limits.h>

#include "rmap.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef long atomic_long_t;

/* The kernel's argument types that carry the allocator. */
#define kvm_vcpu rmap_cache
#define kvm_mmu_memory_cache rmap_cache
struct kvm;			/* only passed on to lockdep and KVM_BUG_ON */

/*
 * ---- state of the running writer op, set by the generated wrappers ----
 *
 * One writer at a time, as the kernel's mmu_lock (held for write around
 * every add and remove) guarantees: the cache the kernel's one-argument free
 * uses, the worst status of the op, and where a BUG() returns to.  Walks
 * and counts keep no state here, so walkers may run beside the writer.
 */
static struct rmap_cache *kshim_cache;
static int kshim_status;
static int kshim_armed;
static void *kshim_jmp[5];

static inline void kshim_note(int status)
{
	if (status > kshim_status)
		kshim_status = status;
}

static void __attribute__((noinline, noreturn, unused)) kshim_bug(void)
{
	/* outside a writer op (a walk, a count) the kernel stops for good too */
	if (!kshim_armed)
		abort();
	kshim_status = RMAP_BUG;
	__builtin_longjmp(kshim_jmp, 1);
}

/*
 * Writer wrappers: KSHIM_BEGIN(cache); if (KSHIM_BUGGED()) { KSHIM_END();
 * return RMAP_BUG; } ... call the kernel ...; KSHIM_END();
 */
#define KSHIM_BEGIN(cache) (kshim_cache = (cache), kshim_status = RMAP_OK, kshim_armed = 1)
#define KSHIM_BUGGED() __builtin_setjmp(kshim_jmp)
#define KSHIM_END() (kshim_armed = 0)

/* ---- allocation ---- */

#define kvm_mmu_memory_cache_alloc(c) mmu_alloc_pte_list_desc(c)
#define mmu_memory_cache_alloc(c) mmu_alloc_pte_list_desc(c)
#define mmu_free_pte_list_desc(desc) (mmu_free_pte_list_desc)(kshim_cache, (desc))

/* ---- BUG and WARN as statuses ---- */

#define BUG() kshim_bug()
#define BUG_ON(cond) do { if (cond) kshim_bug(); } while (0)
#define WARN_ON(cond) ({ int __w = !!(cond); if (__w) kshim_note(RMAP_WARN); __w; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define WARN(cond, ...) WARN_ON(cond)
#define WARN_ONCE(cond, ...) WARN_ON(cond)
#define KVM_BUG_ON(cond, kvm) ({ int __b = !!(cond); if (__b) kshim_note(RMAP_BUG); __b; })
#define KVM_BUG_ON_DATA_CORRUPTION(cond, kvm) KVM_BUG_ON(cond, kvm)
#define KVM_MMU_WARN_ON(x) do { } while (0)
#define MMU_WARN_ON(x) do { } while (0)
#define ASSERT(x) do { } while (0)
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#ifndef static_assert
#define static_assert(expr, ...) _Static_assert(expr, #expr)
#endif

/* ---- logging, lockdep, preemption: nothing ---- */

#define KERN_ERR ""
#define KERN_WARNING ""
#define KERN_DEBUG ""
#define KERN_INFO ""
#define printk(...) ((void)0)
#define printk_ratelimited(...) ((void)0)
#define pr_err(...) ((void)0)
#define pr_err_ratelimited(...) ((void)0)
#define pr_warn(...) ((void)0)
#define pr_warn_once(...) ((void)0)
#define pr_warn_ratelimited(...) ((void)0)
#define pr_info(...) ((void)0)
#define pr_debug(...) ((void)0)
#define rmap_printk(...) do { } while (0)
#define pgprintk(...) do { } while (0)
#define dump_stack() ((void)0)
#define lockdep_assert_held(x) do { } while (0)
#define lockdep_assert_held_write(x) do { } while (0)
#define lockdep_assert_held_read(x) do { } while (0)
#define lockdep_assert_preemption_disabled() do { } while (0)
#define preempt_disable() do { } while (0)
#define preempt_enable() do { } while (0)
#define might_sleep() do { } while (0)
#define cond_resched() do { } while (0)

/* ---- compiler words ---- */

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __maybe_unused __attribute__((unused))
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef noinline
#define noinline __attribute__((noinline))
#endif
#define __must_check __attribute__((warn_unused_result))
#define BIT(nr) (1UL << (nr))
#define BIT_ULL(nr) (1ULL << (nr))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- atomics as the compiler's builtins ---- */

#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define atomic_long_read(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_long_read_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_long_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_long_set_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_long_try_cmpxchg(p, oldp, new) \
	__atomic_compare_exchange_n((p), (oldp), (new), 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)
#define atomic_long_try_cmpxchg_acquire(p, oldp, new) \
	__atomic_compare_exchange_n((p), (oldp), (new), 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define atomic_long_try_cmpxchg_release(p, oldp, new) \
	__atomic_compare_exchange_n((p), (oldp), (new), 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
#define try_cmpxchg(p, oldp, new) \
	__atomic_compare_exchange_n((p), (oldp), (new), 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)
#define cmpxchg(p, old, new) ({ __typeof__(*(p)) __o = (old); \
	__atomic_compare_exchange_n((p), &__o, (new), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); __o; })
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() do { } while (0)
#endif

/* The spte's contents are not the rmap's business (see the top). */
#define is_shadow_present_pte(pte) (1)

#endif
