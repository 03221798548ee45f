"""The maintained list of mutants that `make mutants` runs (tests/run_mutants.py).

Each mutant is one small, plausible bug: in FILE, the exact text ORIGINAL
(which must occur exactly once in the tree) is replaced by REPLACEMENT, and
the tests in TESTS (pytest arguments, run from the tree's root) must then
fail.  A mutant whose original text is gone or no longer unique is an error
of the run, not a skip: edit its entry together with the code it mutates.
tests/test_mutants_list.py checks the list's form in `make test`.

WHY says what the mutant breaks, for the reader of a surviving one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    why: str


STATS_T = "tests/test_analysis_stats.py"
MEASURE_T = "tests/test_measurement.py"
MODEL_T = "tests/test_kernels_model.py"
COUNTERS_T = "tests/test_counters.py"


KVM2025_T = ("tests/test_variants.py::test_kvm2025_lock_protects_the_walker_only_when_taken",)


def model(variant: str) -> tuple[str, ...]:
    """The C-vs-model property tests of one variant (and its dedicated tests)."""
    return (MODEL_T, "-k", variant)


M = Mutant

PYPERF_WRITE = (
    "        if pyperf_json is not None:\n"
    '            atomic_write(self.parts / f"{key}.pyperf.json", pyperf_json)\n')
WRITE_CASE_BODY = PYPERF_WRITE + """\
        df = pd.DataFrame(rows)
        for col in COLUMNS:
            if col not in df.columns:
                raise ValueError(f"result rows lack column {col!r}")
        # DESIGN.md section 8's columns in order, then rmapbench's, then any others
        order = COLUMNS + [c for c in EXTRA_COLUMNS if c in df.columns]
        df = df[order + [c for c in df.columns if c not in order]]
        buf = df.to_parquet(index=False)
        atomic_write(self.parts / f"{key}.parquet", buf)
"""
MUTANTS: list[Mutant] = [
    # ---- the seven that once survived the whole suite ------------------------------
    M("stats-bca-never", "analysis/stats.py",
      'for method in ("BCa", "percentile"):',
      'for method in ("percentile", "BCa"):',
      (f"{STATS_T}::test_bootstrap_interval_is_bca_computed_independently",),
      "the percentile interval is used, BCa never"),
    M("stats-verdict-on-p", "analysis/stats.py",
      'out.at[i, "ci_hi"], out.at[i, "qvalue"], alpha)',
      'out.at[i, "ci_hi"], out.at[i, "pvalue"], alpha)',
      (STATS_T, "-k", "benjamini or q_not_p"),
      "verdicts decided on raw p-values, not on the BH q-values"),
    M("stats-q-is-p", "analysis/stats.py",
      'out.loc[tested, "qvalue"] = stats.false_discovery_control(out.loc[tested, "pvalue"])',
      'out.loc[tested, "qvalue"] = out.loc[tested, "pvalue"]',
      (STATS_T, "-k", "benjamini or q_not_p"),
      "q-value = p-value: no adjustment for the number of comparisons"),
    M("runner-scaling-inverted", "bench/runner.py",
      "scaled = rawc * enabled / running",
      "scaled = rawc * running / enabled",
      ("tests/test_timing_rows.py",),
      "a multiplexed counter scaled down instead of up"),
    M("results-stale-kept", "bench/results.py",
      '(self.path / name).unlink(missing_ok=True)',
      'pass',
      ("tests/test_rundir.py",),
      "begin() keeps a stale results.parquet / pyperf.json of an earlier run"),
    M("results-parquet-first", "bench/results.py", WRITE_CASE_BODY,
      WRITE_CASE_BODY.replace(PYPERF_WRITE, "") + PYPERF_WRITE,
      ("tests/test_rundir.py",),
      "write_case writes the parquet part (the finished mark) before the pyperf part"),
    M("lf-count-before-hole", "native/pte_list_kvm2023_lf.c",
      "\tWRITE_ONCE(desc->sptes[i], head_desc->sptes[j]);\n"
      "\tWRITE_ONCE(head_desc->sptes[j], NULL);\n"
      "\tWRITE_ONCE(head_desc->spte_count, j);\n",
      "\tWRITE_ONCE(head_desc->spte_count, j);\n"
      "\tWRITE_ONCE(desc->sptes[i], head_desc->sptes[j]);\n"
      "\tWRITE_ONCE(head_desc->sptes[j], NULL);\n",
      ("tests/test_store_order.py::test_kvm2023_lf_remove_never_hides_an_spte_between_stores",),
      "kvm-2023-lf's remove lowers the count before the hole is written"),

    # ---- statistics: analysis/stats.py ------------------------------------------------
    M("stats-ci-level-90", "analysis/stats.py",
      "level: float = 0.95) -> tuple[float, float]:",
      "level: float = 0.90) -> tuple[float, float]:",
      (f"{STATS_T}::test_bootstrap_interval_is_bca_computed_independently",),
      "the ratio's interval at 90% instead of 95%"),
    M("stats-verdict-ignores-interval", "analysis/stats.py",
      "if np.isfinite(ci_lo) and np.isfinite(ci_hi) and ci_lo <= 1.0 <= ci_hi:",
      "if False:",
      (f"{STATS_T}::test_verdict_needs_both_test_and_interval",),
      "a significant rank test alone decides, whatever the interval"),
    M("stats-exact-threshold", "analysis/stats.py",
      "if abs(ratio - 1.0) <= threshold:",
      "if abs(ratio - 1.0) <= 2.5 * threshold:",
      (f"{STATS_T}::test_exact_counts_have_no_interval_and_threshold_verdicts",),
      "simulated counts called equal up to 2.5 times the threshold"),
    M("stats-ratio-of-medians", "analysis/stats.py",
      "return np.mean(x, axis=axis) / np.mean(y, axis=axis)",
      "return np.median(x, axis=axis) / np.median(y, axis=axis)",
      (f"{STATS_T}::test_bootstrap_interval_is_bca_computed_independently",),
      "the bootstrap statistic is a ratio of medians, not of means"),
    M("stats-mwu-one-sided", "analysis/stats.py",
      'stats.mannwhitneyu(x, base, alternative="two-sided")',
      'stats.mannwhitneyu(x, base, alternative="less")',
      (STATS_T, "-k", "q_not_p or needs_both"),
      "a one-sided rank test where the method says two-sided"),
    M("stats-t-df", "analysis/stats.py",
      "stats.t.interval(0.95, count - 1, loc=mean, scale=sem)",
      "stats.t.interval(0.95, count, loc=mean, scale=sem)",
      (f"{STATS_T}::test_summarize_interval_and_spread_by_hand",),
      "the mean's t interval with n degrees of freedom instead of n - 1"),
    M("stats-sd-population", "analysis/stats.py",
      "sd = float(np.std(v, ddof=1))",
      "sd = float(np.std(v, ddof=0))",
      (f"{STATS_T}::test_summarize_interval_and_spread_by_hand",),
      "the population sd reported as the sample sd"),
    M("stats-exponent-large-all", "analysis/stats.py",
      "k = max(min_points, math.ceil(len(ns) / 2))",
      "k = len(ns)",
      (f"{STATS_T}::test_linear_gives_slope_and_exponent_one",),
      "the large-n exponent fitted over every n"),
    M("stats-superlinear-bound", "analysis/stats.py",
      "if exponent > 1.2:",
      "if exponent > 2.2:",
      (f"{STATS_T}::test_quadratic_and_too_few_points",),
      "a quadratic cost per op called O(n)"),
    M("stats-cache-edge", "analysis/stats.py",
      "if footprint <= size:",
      "if footprint < size:",
      (f"{STATS_T}::test_footprint_levels_host_and_sim",),
      "a footprint of exactly the cache size placed beyond it"),
    M("stats-kib-1000", "analysis/stats.py",
      '"K": 1024,',
      '"K": 1000,',
      (f"{STATS_T}::test_footprint_levels_host_and_sim",),
      "KiB read as 1000 bytes"),

    # ---- the disturbance rule: bench/disturb.py ----------------------------------------
    M("measure-preempted-once-ok", "bench/disturb.py",
      'if ev["nivcsw"] > 0:',
      'if ev["nivcsw"] > 1:',
      (MEASURE_T, "-k", "disturbance_rule"),
      "one involuntary context switch not called a disturbance"),
    M("measure-slack-not-per-loop", "bench/disturb.py",
      'rule["off_cpu_slack_ns"] * loops',
      'rule["off_cpu_slack_ns"]',
      (MEASURE_T, "-k", "disturbance_rule"),
      "the off-CPU slack granted once per value, not per repetition"),

    # ---- statistics of the measurement: bench/measure.py ------------------------------
    M("measure-pvalue-one-sided", "bench/measure.py",
      'out["pvalue"] = float(min(1.0, 2 * min(below, above)))',
      'out["pvalue"] = float(min(1.0, min(below, above)))',
      (MEASURE_T, "-k", "hier_ratio_pvalue"),
      "the paired test's p-value one-sided"),
    M("measure-no-winsorizing", "bench/measure.py",
      "return [[np.clip(e, lo, hi) for e in p] for p in levels], n",
      "return levels, n",
      (MEASURE_T, "-k", "winsorizes"),
      "a rare slow value is counted as clipped but not clipped"),
    M("measure-ratio-of-logs", "bench/measure.py",
      "ratio = float(np.exp(sst.trim_mean(allv, trim)))",
      "ratio = float(sst.trim_mean(allv, trim))",
      (MEASURE_T, "-k", "hier_ratio"),
      "the paired ratio reported as its log"),
    M("measure-no-trim", "bench/measure.py",
      "TRIM = 0.2 ",
      "TRIM = 0.0 ",
      (MEASURE_T, "-k", "right_tail"),
      "the paired ratio a plain mean of the log ratios, following the slow tail"),
    M("measure-rounds-counted-twice", "bench/measure.py",
      "resample_rounds = nep < MIN_EPOCHS and P < min_processes_t",
      "resample_rounds = True",
      (MEASURE_T, "-k", "epochs_carry"),
      "the bootstrap draws rounds inside drawn epochs again, counting their noise twice"),
    M("measure-dear-rounds-drawn", "bench/measure.py",
      "resample_rounds = nep < MIN_EPOCHS and P < min_processes_t",
      "resample_rounds = nep < MIN_EPOCHS",
      (MEASURE_T, "-k", "dear_case"),
      "a dear case (few layouts, enough processes) has its rounds drawn again: intervals too wide"),
    M("worker-dear-never-retried", "bench/worker.py",
      'if tuple(u["phases"]) in dear and now - t_meas + (now - t_try) > spec["slice_s"]:',
      'if tuple(u["phases"]) in dear:',
      ("tests/test_sequence.py", "-k", "dear_disturbed"),
      "a dear value is kept disturbed at once, though the slice has room for another attempt"),
    M("measure-no-round-fallback", "bench/measure.py",
      "MIN_EPOCHS = 10 ",
      "MIN_EPOCHS = 0 ",
      (MEASURE_T, "-k", "few_epochs"),
      "one process of one epoch gets an interval of width 0"),
    M("measure-unpaired", "bench/measure.py",
      "keep.append(np.log(x) - np.log(y))",
      "keep.append(np.log(x) - np.log(y[::-1]))",
      (MEASURE_T, "-k", "pairing_narrows"),
      "rounds paired with the wrong rounds of the baseline"),

    # ---- the harness: native/harness.c, native/counters.c -----------------------------
    M("harness-ns-last-loop", "native/harness.c",
      "res->ns += ts_ns(&t1) - ts_ns(t0);",
      "res->ns = ts_ns(&t1) - ts_ns(t0);",
      (COUNTERS_T, "-k", "measured_region_only"),
      "the wall time of the last repetition only, counters of all"),
    M("harness-enabled-not-rebased", "native/harness.c",
      "res->time_enabled += en - en0;",
      "res->time_enabled += en;",
      (COUNTERS_T, "-k", "times_restart"),
      "time_enabled carried over from earlier runs of the group"),
    M("harness-loops-one", "native/harness.c",
      "\tres->loops = loops;\n\tres->ops = rb_work_ops(w, phase);",
      "\tres->loops = 1;\n\tres->ops = rb_work_ops(w, phase);",
      ("tests/test_workloads.py", "tests/test_runner.py", "-k",
       "not unpinned and not pyperf and not doctor"),
      "a phase's repetitions not recorded: per-op values off by the loop count"),
    M("counters-leader-enabled-at-open", "native/counters.c",
      "attr->disabled = !!leader;",
      "attr->disabled = 0;",
      (COUNTERS_T, "-k", "disabled_group"),
      "the group counts from the moment it is opened"),
    M("counters-every-fd-a-leader", "native/counters.c",
      "\tif (cg->leader < 0)\n\t\tcg->leader = fd;",
      "\tcg->leader = fd;",
      (COUNTERS_T, "-k", "first_touch or disabled_group or measured_region_only"),
      "each event joins the previous event, not the group leader"),
    M("counters-value-is-id", "native/counters.c",
      "values[i] = buf[3 + 2 * k];",
      "values[i] = buf[4 + 2 * k];",
      (COUNTERS_T, "-k", "first_touch"),
      "the event id read as its count"),
    M("counters-enabled-is-nr", "native/counters.c",
      "*enabled = buf[1];",
      "*enabled = buf[0];",
      (COUNTERS_T, "-k", "first_touch"),
      "time_enabled read from the wrong word"),
    M("counters-reset-leader-only", "native/counters.c",
      "leader_ioctl(cg, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP)",
      "leader_ioctl(cg, PERF_EVENT_IOC_RESET, 0)",
      (COUNTERS_T, "-k", "every_member"),
      "reset zeroes the leader's count, the members' carry over"),
    M("counters-group-disable", "native/counters.c",
      "leader_ioctl(cg, PERF_EVENT_IOC_DISABLE, 0)",
      "leader_ioctl(cg, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP)",
      (COUNTERS_T, "-k", "every_region or every_member"),
      "members switched off after the first region, never on again"),
    M("counters-sw-exclude-kernel", "native/counters.c",
      "int excl = type != PERF_TYPE_SOFTWARE;",
      "int excl = 1;",
      (COUNTERS_T, "-k", "kernel_side"),
      "software events opened user-only: context switches read 0"),
    M("counters-touch-half", "native/counters.c",
      "\t\tp[i * page] = 1;",
      "\t\tp[(i / 2) * page] = 1;",
      (COUNTERS_T, "-k", "first_touch"),
      "the page-touch probe faults half the pages it claims"),

    # ---- the kernels: native/pte_list_*.c --------------------------------------------
    M("old-add-count-short", "native/pte_list_old.c",
      "\t\t\tcount += PTE_LIST_EXT;\n",
      "\t\t\tcount += PTE_LIST_EXT - 1;\n",
      model("old"),
      "old's add return one short per full descriptor walked"),
    M("old-fill-from-slot-i-plus-1", "native/pte_list_old.c",
      "for (j = PTE_LIST_EXT - 1; !desc->sptes[j] && j > i; --j)",
      "for (j = PTE_LIST_EXT - 1; !desc->sptes[j] && j > i + 1; --j)",
      model("old"),
      "old's remove fills the hole from the wrong slot"),
    M("kvm2021-prev-desc-kept", "native/pte_list_kvm2021.c",
      "\telse if (prev_desc)\n\t\tRMAP_STORE(prev_desc->more, desc->more);",
      "\telse if (prev_desc)\n\t\t;",
      ("tests/test_sanitizers.py", "-k", "million_ops and kvm-2021"),
      "kvm-2021's remove leaves a freed descriptor linked (ASan: use after free)"),
    M("kvm2021-add-full-at-ext-minus-1", "native/pte_list_kvm2021.c",
      "while (desc->spte_count == PTE_LIST_EXT) {",
      "while (desc->spte_count == PTE_LIST_EXT - 1) {",
      model("kvm-2021"),
      "kvm-2021 treats a descriptor as full one slot early"),
    M("kvm2023-tail-count-zero", "native/pte_list_kvm2023.c",
      "RMAP_STORE(new_desc->tail_count, count);",
      "RMAP_STORE(new_desc->tail_count, 0);",
      model("kvm-2023"),
      "kvm-2023 forgets the sptes behind a new first descriptor"),
    M("kvm2023-fill-from-slot-0", "native/pte_list_kvm2023.c",
      "\tRMAP_STORE(desc->sptes[i], head_desc->sptes[j]);",
      "\tRMAP_STORE(desc->sptes[i], head_desc->sptes[0]);",
      model("kvm-2023"),
      "kvm-2023 fills the hole from the first slot, not the last used"),
    M("kvm2023-count-without-tail", "native/pte_list_kvm2023.c",
      "\treturn desc->spte_count + desc->tail_count;",
      "\treturn desc->spte_count;",
      model("kvm-2023"),
      "kvm-2023's O(1) count ignores the tail"),
    M("lf-walk-forward", "native/pte_list_kvm2023_lf.c",
      "for (i = (int)READ_ONCE(desc->spte_count) - 1; i >= 0; --i) {",
      "for (i = 0; i < (int)READ_ONCE(desc->spte_count); ++i) {",
      model("kvm-2023-lf"),
      "kvm-2023-lf walks a descriptor bottom up like kvm-2023"),
    M("lf-source-cleared-first", "native/pte_list_kvm2023_lf.c",
      "\tWRITE_ONCE(desc->sptes[i], head_desc->sptes[j]);\n"
      "\tWRITE_ONCE(head_desc->sptes[j], NULL);\n",
      "\tu64 *moved = head_desc->sptes[j];\n\n"
      "\tWRITE_ONCE(head_desc->sptes[j], NULL);\n"
      "\tWRITE_ONCE(desc->sptes[i], moved);\n",
      ("tests/test_store_order.py::test_kvm2023_lf_remove_never_hides_an_spte_between_stores",),
      "kvm-2023-lf clears the moved spte's slot before writing it into the hole"),
    M("kvm2025-tail-count-short", "native/pte_list_kvm2025.c",
      "RMAP_STORE(new_desc->tail_count, count);",
      "RMAP_STORE(new_desc->tail_count, count - 1);",
      KVM2025_T,
      "kvm-2025's tail count one short"),
    M("kvm2025-walk-skips-slot-0", "native/pte_list_kvm2025.c",
      "for (i = 0; i < desc->spte_count; ++i, ++n)",
      "for (i = 1; i < desc->spte_count; ++i, ++n)",
      KVM2025_T,
      "kvm-2025's walk skips every descriptor's first slot"),
    M("new-returns-count-before", "native/pte_list_new.c",
      "return count_spte_number(desc);\t/* the count after the add */",
      "return count_spte_number(desc) - 1;\t/* the count after the add */",
      model("new"),
      "new returns the count before the add (as new-fixed does), not after"),
    M("new-fixed-clears-head", "native/pte_list_new.c",
      "\t\t\treturn RMAP_BUG;\t/* 1->BUG, head kept */",
      "\t\t\trmap_head->val = 0;\n\t\t\treturn RMAP_BUG;\t/* 1->BUG, head kept */",
      model("new"),
      "new-fixed loses a single-pointer head on a bad remove"),
    M("new-single-form-with-more", "native/pte_list_new.c",
      "if (!first_desc->sptes[1] && !first_desc->more) {",
      "if (!first_desc->sptes[1]) {",
      model("new"),
      "new returns to the single form while descriptors follow"),
    M("measure-process-t-normal", "bench/measure.py",
      "tq = float(sst.t.ppf(1 - (1 - level) / 2, df))",
      "tq = float(sst.norm.ppf(1 - (1 - level) / 2))",
      (MEASURE_T, "-k", "enough_processes"),
      "the process-level interval takes a normal quantile: too narrow with few processes"),
    M("measure-moderated-own-df", "bench/measure.py",
      "_t_interval(out[i], se, d + d0, level, True)",
      "_t_interval(out[i], se, d, level, True)",
      (MEASURE_T, "-k", "moderat"),
      "a moderated variance keeps the arm's own degrees of freedom: no narrower"),
    M("measure-moderated-no-shrink", "bench/measure.py",
      "se = float(np.sqrt((d0 * s02 + d * v) / (d0 + d)))",
      "se = float(np.sqrt(v))",
      (MEASURE_T, "-k", "moderat"),
      "the prior's degrees of freedom without its variance: arms that happen to agree are overconfident"),
    M("measure-prior-mean-of-logs", "bench/measure.py",
      "return d0, float(np.exp(np.mean(e) + digamma(d0 / 2) - np.log(d0 / 2)))",
      "return d0, float(np.exp(np.mean(np.log(s2))))",
      (MEASURE_T, "-k", "prior"),
      "the prior variance as the geometric mean of the variances: biased low"),
    M("guest-undo-misses-a-head", "native/workloads.c",
      "w->nundo = w->nchildren ? w->child_first[1] : 0;",
      "w->nundo = w->nchildren ? w->child_first[1] - 1 : 0;",
      ("tests/test_sequence.py", "-k", "reports_what"),
      "guest's undo leaves the last head with a chain mapped"),
    M("sequence-remove-from-scratch", "native/harness.c",
      "\t\tret = rb_work_prepare(w, seq[0]);",
      "\t\tret = rb_work_prepare(w, seq[nseq - 1]);",
      ("tests/test_sequence.py", "-k", "reports_what"),
      "the sequence prepares remove's start state, so add runs on full heads"),
]
