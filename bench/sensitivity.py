"""`rmapbench doctor --sensitivity`: the smallest slowdown the default timing
settings detect on this host, measured rather than assumed.

For a few workload points, one variant is timed as several arms in the same
interleaved groups as a sweep would time variants (bench.runner.time_group,
the default Timing):

- the variant itself (the baseline arm),
- the variant again, the same library (an A/A arm: identical code, its own
  data): any "significant" difference is a false positive,
- the variant built with -DRB_INJECT_CHAIN=k for each k: every rmap op of the
  measured region is followed by a dependent chain of k adds (workloads.c,
  outside the variant's file), a known extra cost.

Printed: per case and arm the measured ratio to the baseline, its 95% CI and
whether it is called significant (p < alpha and the interval excluding 1);
the A/A false-positive rate; the minimal detectable effect at 95% power from
the achieved intervals (MDE = (z_0.975 + z_0.95) * SE, SE = half-width /
1.96); the share of cases whose interval is narrow enough to detect a 3%
slowdown with 95% power; and the detection rate of the injected arms whose
measured effect lies between 2% and 5%.
"""

from __future__ import annotations

import math
import time


CASES = [
    {"workload": "fork", "n": 1, "heads": 16384},
    {"workload": "fork", "n": 16, "heads": 2048},
    {"workload": "fork", "n": 256, "heads": 128},
    {"workload": "walk", "n": 16, "heads": 2048},
]
CHAINS = [1, 4, 16]
Z_POWER = 1.959964 + 1.644854   # two-sided 5% test, 95% power


def parse_chains(text: str | None) -> list[int]:
    if text is None:
        return list(CHAINS)
    from .values import parse_int_list

    return parse_int_list("--chains", text, 1, 4096)


def run(plan, variant: str, ext: int | None = None, chains=None, repeats: int = 1,
        say=print) -> dict:
    from .build import resolve_cflags
    from .runner import precision_of, time_group
    from .variants import default_ext

    ext = default_ext(variant) if ext is None else ext
    chains = list(CHAINS if chains is None else chains)
    base_flags = resolve_cflags(plan.cflags)
    arms = [("base", None), ("A/A", None)] + [(f"chain {k}", k) for k in chains]
    results = []
    t0 = time.monotonic()
    for rep in range(repeats):
        for point in CASES:
            case = {"variant": variant, "ext": ext, "order": "fifo", "alloc": "bump",
                    "seed": 1 + rep, **point}
            cases = [{**case, "cflags": base_flags if k is None
                      else f"{base_flags} -DRB_INJECT_CHAIN={k}"} for _, k in arms]
            timed = time_group(cases, plan)
            phases = sorted({v["phase"] for v in timed["procs"][0]
                             if v.get("kind") == "value" and v["arm"] >= 0})
            # the arms' intervals as a sweep's runner makes them (moderated together)
            prec = precision_of(timed["procs"], len(arms), phases, n_resamples=2000)
            for phase in phases:
                for i, (name, k) in enumerate(arms[1:], 1):
                    h = prec[(i, phase)]
                    sig = h["pvalue"] < plan_alpha() and not (h["lo"] <= 1 <= h["hi"])
                    results.append({"workload": point["workload"], "n": point["n"],
                                    "heads": point["heads"], "phase": phase, "repeat": rep,
                                    "arm": name, "chain": k or 0, "ratio": h["ratio"],
                                    "lo": h["lo"], "hi": h["hi"], "halfwidth": h["halfwidth"],
                                    "pvalue": h["pvalue"], "significant": bool(sig)})
                    r = results[-1]
                    say(f"  {point['workload']} {phase} n={point['n']} heads={point['heads']} "
                        f"{name:>9}: ratio {r['ratio']:.4f} [{r['lo']:.4f}, {r['hi']:.4f}] "
                        f"{'SIGNIFICANT' if sig else 'not significant'}")
    return {"variant": variant, "ext": ext, "chains": chains, "repeats": repeats,
            "results": results, "seconds": time.monotonic() - t0, **summarize(results)}


def plan_alpha() -> float:
    return 0.05


def summarize(results: list[dict]) -> dict:
    import numpy as np

    aa = [r for r in results if r["arm"] == "A/A"]
    hws = np.array([r["halfwidth"] for r in results if math.isfinite(r["halfwidth"])])
    out: dict = {"aa_cases": len(aa),
                 "aa_false_positives": sum(r["significant"] for r in aa)}
    out["aa_false_positive_rate"] = out["aa_false_positives"] / len(aa) if aa else math.nan
    if len(hws):
        mde = Z_POWER * hws / 1.959964
        out["mde_median"] = float(np.median(mde))
        out["mde_p90"] = float(np.quantile(mde, 0.9))
        out["power3_share"] = float(np.mean(mde <= 0.03))
    inj = [r for r in results if r["chain"] and math.isfinite(r["ratio"])]
    near = [r for r in inj if 0.02 <= r["ratio"] - 1 <= 0.05]
    out["near3_cases"] = len(near)
    out["near3_detected"] = sum(r["significant"] for r in near)
    by_k = {}
    for r in inj:
        d = by_k.setdefault(r["chain"], {"cases": 0, "detected": 0, "effects": []})
        d["cases"] += 1
        d["detected"] += r["significant"]
        d["effects"].append(r["ratio"] - 1)
    out["by_chain"] = {k: {"cases": d["cases"], "detected": d["detected"],
                           "effect_median": float(np.median(d["effects"]))}
                       for k, d in sorted(by_k.items())}
    return out


def render(s: dict) -> list[str]:
    pct = lambda v: "n/a" if v is None or not math.isfinite(v) else f"{v:.2%}"  # noqa: E731
    lines = [f"sensitivity of the default timing settings, {s['variant']}@{s['ext']}, "
             f"{s['repeats']} repeat(s), {s['seconds']:.0f}s (measured, backend time):"]
    lines.append(f"  A/A false positives: {s['aa_false_positives']} of {s['aa_cases']} "
                 f"({pct(s['aa_false_positive_rate'])}; alpha 5%)")
    lines.append(f"  minimal detectable effect at 95% power: median {pct(s.get('mde_median'))}, "
                 f"p90 {pct(s.get('mde_p90'))}")
    lines.append(f"  cases whose interval detects a 3% slowdown with 95% power: "
                 f"{pct(s.get('power3_share'))} (goal >= 95%)")
    for k, d in s["by_chain"].items():
        lines.append(f"  injected chain of {k} add(s) per op: median effect "
                     f"{pct(d['effect_median'])}, detected in {d['detected']} of {d['cases']}")
    if s["near3_cases"]:
        lines.append(f"  injected effects measured between 2% and 5%: detected in "
                     f"{s['near3_detected']} of {s['near3_cases']} "
                     f"({pct(s['near3_detected'] / s['near3_cases'])}; goal >= 95%)")
    else:
        lines.append("  no injected effect was measured between 2% and 5%: choose --chains "
                     "so that one is")
    return lines
