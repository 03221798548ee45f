"""Open variants (docs/variants.md): one record per variant, the C states the
interface, a user's variant from a C file, and `check` on the variant's own C.

- a copy of any built-in's C file, given as a path, traces byte for byte and
  checks result for result like the built-in;
- the built-ins' `check --json` equals what it was before the race explorer
  ran on C (tests/data/check_builtins.json);
- the template of docs/variants.md builds, traces, checks, runs in a tiny
  sweep and appears in the report;
- bad variant files are one line (or the compiler's lines, then one) and exit 2;
- no module under bench/ or analysis/ names a built-in variant.
"""

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bench import variants
from bench.check import run_check
from bench.errors import UsageError
from conftest import ROOT, VARIANTS, assert_usage_error, run_cli

NATIVE = ROOT / "native"
BASELINE = json.loads((Path(__file__).parent / "data" / "check_builtins.json").read_text())
OPS = """add 0 1
add 0 2
add 0 3
add 0 4
add 0 5
add 1 6
remove 0 2
walk 0
count 0
add 0 7
add 0 8
remove 0 1
remove 0 99
walk 0
count 1
remove 1 6
"""


def _strip(o, drop=("seconds",)):
    if isinstance(o, dict):
        return {k: _strip(v, drop) for k, v in o.items() if k not in drop}
    if isinstance(o, list):
        return [_strip(x, drop) for x in o]
    return o


def _copy_builtin(name: str, dest: Path) -> Path:
    """The built-in's file (and the local files it includes) copied to dest,
    with its declared name replaced by NULL: the copy is named after its file
    (a user file may not take a built-in's name)."""
    src = variants.VARIANTS[name].source
    dest.mkdir(parents=True, exist_ok=True)
    todo, seen = [src], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        text = p.read_text()
        for inc in re.findall(r'#include "([^"]+\.c)"', text):
            todo.append(p.parent / inc)
        (dest / p.name).write_text(text.replace(f'"{name}"', "NULL"))
    copy = dest / f"copy_{src.stem}.c"
    copy.write_text((dest / src.name).read_text())
    return copy


def test_registry_records():
    assert VARIANTS == variants.builtin_names()
    for v in variants.BUILTINS:
        assert v.source.is_file() and v.source.parent == NATIVE
        assert variants.EXT_MIN <= v.ext <= variants.EXT_MAX
        lay = variants.layout(v.name)
        assert lay.ext == v.ext and lay.sptes.size == 8 * v.ext
        assert lay.walk in ("fwd-null", "fwd-count", "rev-count")
    assert set(variants.ROLES.values()) <= set(VARIANTS)
    eras = {v.name: v.kernels for v in variants.BUILTINS}
    assert (eras["old"], eras["kvm-2021"], eras["kvm-2023"], eras["kvm-2025"]) == \
        ("v3.x-v5.14", "v5.15-v6.3", "v6.4-v6.14", "v6.15+")
    readme = (ROOT / "README.md").read_text()
    for v in variants.BUILTINS:
        if v.kernels:
            assert re.search(rf"\| `{re.escape(v.name)}` +\| {v.ext} +\| {re.escape(v.kernels)} ",
                             readme), v.name


def test_declared_layouts_come_from_the_structs():
    old, k23, k25 = (variants.layout(v) for v in ("old", "kvm-2023", "kvm-2025"))
    assert (old.sptes.off, old.more.off, old.count.off, old.walk) == (0, 24, -1, "fwd-null")
    assert (k23.more.off, k23.count.off, k23.count.size, k23.tail.off, k23.sptes.off) == \
        (0, 8, 4, 12, 16)
    assert k25.head_lock and not k23.head_lock and k25.walk == "fwd-count"
    assert variants.layout("kvm-2023-lf").walk == "rev-count"


@pytest.mark.parametrize("name", VARIANTS)
def test_copy_of_a_builtin_traces_and_checks_identically(name, tmp_path):
    copy = _copy_builtin(name, tmp_path / "v")
    ops = tmp_path / "ops.txt"
    ops.write_text(OPS)
    ext = str(variants.default_ext(name))
    a = run_cli("trace", "--variant", name, "--ext", ext, ops)
    b = run_cli("trace", "--variant", copy, "--ext", ext, ops)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and a.stdout.count("\n") > 16
    mine = run_check([str(copy)], variants.default_ext(name))
    builtin = run_check([name])
    assert mine[0]["variant"] == copy.stem
    assert _strip(mine, ("seconds", "variant")) == _strip(builtin, ("seconds", "variant"))
    base = [r for r in BASELINE if r["variant"] == name]
    if base:       # the built-in as it was before check ran on its C code
        # (the store-by-store search came later: tests/test_check_stores.py)
        assert _strip(builtin, ("seconds", "race_stores")) == _strip(base)
        assert builtin[0]["race_stores"]["can_miss"] == base[0]["race"]["can_miss"]


def test_baseline_covers_the_original_builtins():
    assert [r["variant"] for r in BASELINE] == \
        ["old", "new", "new-fixed", "kvm-2021", "kvm-2023", "kvm-2023-lf"]
    assert {r["variant"]: r["race"]["can_miss"] for r in BASELINE} == \
        {"old": True, "new": True, "new-fixed": True, "kvm-2021": True, "kvm-2023": True,
         "kvm-2023-lf": False}


def test_kvm2025_lock_protects_the_walker_only_when_taken():
    r = run_check(["kvm-2025"])[0]
    assert r["deviations"] == []
    assert r["race"]["can_miss"] is False and r["race"]["counterexample"] is None
    assert "head lock" in r["race"]["bounds"]["walker"]
    un = r["race_without_lock"]
    assert un["can_miss"] is True and un["missed"] and un["c_crosscheck"]["equal"]
    # and store by store (each writer op stopped after any of its stores)
    assert r["race_stores"]["can_miss"] is False
    assert r["race_stores_without_lock"]["can_miss"] is True
    # without the lock it misses exactly as kvm-2023 does
    k23 = run_check(["kvm-2023"])[0]["race"]
    assert un["counterexample"] == k23["counterexample"]


def _template(tmp_path) -> Path:
    text = (ROOT / "docs" / "variants.md").read_text()
    code = re.search(r"```c\n(// SPDX.*?)```", text, re.S).group(1)
    p = tmp_path / "old_lastfill.c"
    p.write_text(code)
    return p


def test_template_variant_end_to_end(tmp_path):
    """The variant written only from docs/variants.md: build, trace, check,
    a tiny sweep and the report."""
    src = _template(tmp_path)
    proc = run_cli("build", "--variant", f"old,{src}", "--ext", "3")
    assert proc.returncode == 0, proc.stderr
    assert "old_lastfill" in proc.stdout

    ops = tmp_path / "ops.txt"
    ops.write_text("add 0 1\nadd 0 2\nadd 0 3\nadd 0 4\nadd 0 5\nremove 0 2\nwalk 0\n")
    proc = run_cli("trace", "--variant", src, "--ext", "3", ops)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(x) for x in proc.stdout.splitlines()]
    # adds return the count before; the hole at slot 1 is filled from the
    # last descriptor's last used slot (5), and the last descriptor keeps 4
    assert [r["ret"] for r in recs[:5]] == [0, 1, 2, 3, 4]
    assert recs[-1]["descs"] == [[1, 5, 3], [4, None, None]]
    assert recs[-2]["ret"] == [1, 5, 3, 4]

    proc = run_cli("check", "--variant", f"{src}", "--ext", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)[0]
    assert out["variant"] == "old_lastfill" and out["deviations"] == []
    assert out["race"]["can_miss"] is True        # the fill is still a backward move
    assert out["race"]["c_crosscheck"]["equal"]

    cfg = tmp_path / "mine.toml"
    cfg.write_text(f"""
[options]
backend = "time"
[options.pyperf]
processes = 1
values = 2
warmups = 1
min_time = 0.001

[[grid]]
name = "mine"
workload = "fork"
variant = ["old", "{src.name}@3"]
n = [4]
heads = 16
""")
    run = tmp_path / "run"
    proc = run_cli("sweep", cfg, "--out", run, timeout=900)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(run / "results.parquet")
    assert set(df["variant"]) == {"old", "old_lastfill"}
    proc = run_cli("report", run)
    assert proc.returncode == 0, proc.stderr
    md = next(run.rglob("report.md")).read_text()
    assert "old_lastfill@3" in md


def test_bad_variant_files(tmp_path):
    assert_usage_error(run_cli("check", "--variant", tmp_path / "missing.c"),
                       "missing.c", "cannot be read")
    bad = tmp_path / "broken.c"
    bad.write_text('#include "rmap.h"\nint pte_list_add(void) { return ; }\n')
    proc = run_cli("trace", "--variant", bad, tmp_path / "ops.txt")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "broken.c:2" in proc.stderr          # the compiler's own lines first
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"rmapbench: error: variant file {str(bad)!r} does not compile: {bad}:2:")
    # a counted walk declared without a count
    nocount = tmp_path / "nocount.c"
    nocount.write_text(_template(tmp_path).read_text().replace(
        "PTE_LIST_WALK_FWD_NULL", "PTE_LIST_WALK_FWD_COUNT"))
    assert_usage_error(run_cli("check", "--variant", nocount), "nocount", "needs a count")
    # a built-in's name, and two files with one name
    taken = tmp_path / "taken.c"
    taken.write_text(_template(tmp_path).read_text().replace(
        "PTE_LIST_DECLARE(NULL", 'PTE_LIST_DECLARE("kvm-2023"'))
    assert_usage_error(run_cli("check", "--variant", taken), "'kvm-2023'", "built-in")
    (tmp_path / "b").mkdir()
    twin = tmp_path / "b" / "old_lastfill.c"
    twin.write_text(_template(tmp_path).read_text() + "/* edited */\n")
    assert_usage_error(run_cli("check", "--variant", f"{tmp_path / 'old_lastfill.c'},{twin}"),
                       "old_lastfill", "the variant file", "content differs")
    # a copy of the same text is the same variant: named twice
    twin.write_text(_template(tmp_path).read_text())
    assert_usage_error(run_cli("check", "--variant", f"{tmp_path / 'old_lastfill.c'},{twin}"),
                       "'old_lastfill' a second time")


def test_unknown_interface_version_is_refused(tmp_path):
    from bench.native import _open

    src = tmp_path / "lib.c"
    src.write_text("int rb_iface_version(void) { return 999; }\n")
    so = tmp_path / "lib.so"
    subprocess.run(["cc", "-shared", "-fPIC", str(src), "-o", str(so)], check=True)
    with pytest.raises(UsageError, match="interface version 999"):
        _open(so, "test")
    src.write_text("int something_else(void) { return 0; }\n")
    so = tmp_path / "lib2.so"      # a new path: dlopen would hand back the first
    subprocess.run(["cc", "-shared", "-fPIC", str(src), "-o", str(so)], check=True)
    with pytest.raises(UsageError, match="no interface version"):
        _open(so, "test")


def test_no_module_names_a_builtin_variant():
    """Only the registry names variants in bench/ and analysis/ (sweep
    configs and docs may)."""
    files = [p for d in ("bench", "analysis") for p in (ROOT / d).rglob("*.py")]
    assert files
    offenders = {}
    for v in VARIANTS:
        pat = re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])" if "-" in v
                         else rf"[\"']{re.escape(v)}[\"'@]")
        for p in files:
            if p.name == "variants.py" and p.parent.name == "bench":
                continue
            if pat.search(p.read_text()):
                offenders.setdefault(v, []).append(str(p.relative_to(ROOT)))
    assert offenders == {}


def test_a_declaration_that_lies_about_the_walk_is_a_deviation(tmp_path):
    """check's explorer walks the declared order; conformance holds the
    variant's own pte_list_walk to it."""
    text = _template(tmp_path).read_text()
    text = text.replace("struct pte_list_desc *more;\n};",
                        "struct pte_list_desc *more;\n\tu64 spte_count;\n};", 1)
    text = text.replace("PTE_LIST_DECLARE(NULL, PTE_LIST_WALK_FWD_NULL,\n\t\t PTE_LIST_NO_FIELD,",
                        "PTE_LIST_DECLARE(NULL, PTE_LIST_WALK_REV_COUNT,\n"
                        "\t\t PTE_LIST_FIELD(spte_count),")
    liar = tmp_path / "liar.c"
    liar.write_text(text)
    kinds = {d["kind"] for d in run_check([str(liar)], 3)[0]["deviations"]}
    assert kinds == {"walk-order-differs"}
    honest = run_check([str(_template(tmp_path))], 3)[0]["deviations"]
    assert honest == []


def test_report_shows_both_walkers_of_a_head_lock():
    from analysis.render import Table
    from analysis.sections.check import check_blocks

    blocks = check_blocks(run_check(["kvm-2025"]), "check.json")
    table = next(b for b in blocks if isinstance(b, Table))
    assert [(r[0], r[4]) for r in table.rows] == [
        ("kvm-2025 (walker takes the head lock)", "no"),
        ("kvm-2025 (walker without the lock)", "yes")]


def test_a_file_may_state_its_default_ext(tmp_path):
    """`rmapbench: default-ext N` in a file's first 4 KiB sets the EXT it is
    built at when none is given (imports write it); without one it is 14."""
    variants.forget_user_variants()      # files other tests registered in this process
    plain = tmp_path / "at_default.c"
    plain.write_text(_template(tmp_path).read_text())
    three = tmp_path / "at3.c"
    three.write_text("/* rmapbench: default-ext 3 */\n" + plain.read_text())
    try:
        assert variants.default_ext(variants.add_user_variant(str(plain))) == 14
        assert variants.default_ext(variants.add_user_variant(str(three))) == 3
        # trace with no --ext builds it at 3: the second add fills slot 1 of a
        # 3-slot descriptor, dumped as 3 slots
        ops = tmp_path / "ops.txt"
        ops.write_text("add 0 1\nadd 0 2\n")
        proc = run_cli("trace", "--variant", three, ops)
        assert proc.returncode == 0, proc.stderr
        last = json.loads(proc.stdout.strip().splitlines()[-1])
        assert last["descs"] == [[1, 2, None]]
    finally:
        variants.forget_user_variants()
    bad = tmp_path / "at99.c"
    bad.write_text("/* rmapbench: default-ext 99 */\n" + plain.read_text())
    assert_usage_error(run_cli("trace", "--variant", bad, tmp_path / "ops.txt"),
                       "at99.c", "default-ext")
