"""Hostile variant files, kernel trees and build-cache entries: each is one
line on stderr naming the bad value and what is allowed, exit status 2, no
traceback, nothing half-written, no process or temporary file left behind.

A user's variant (a file, or an import) runs its native code in a child
process (bench.isolate): its crash or hang is an error of rmapbench, not its
death.  Hangs are tested with the watchdog shortened through the module's
own constant in a `python -c` wrapper around the CLI, never by waiting the
documented limit.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, assert_usage_error, run_cli

KFIX = ROOT / "tests" / "fixtures" / "kernel"
TWO_ADDS = "add 0 1\nadd 0 2\n"
# pte_list_add's branch that builds the first descriptor (the second add)
SECOND_ADD = "\tif (!(rmap_head->val & KVM_RMAP_MANY)) {\n"


def _template() -> str:
    text = (ROOT / "docs" / "variants.md").read_text()
    return re.search(r"```c\n(// SPDX.*?)```", text, re.S).group(1)


def _variant(tmp_path, name: str, at_second_add: str = "", edit=None) -> str:
    """The docs' template, with code run at the start of the second add."""
    code = _template()
    assert SECOND_ADD in code
    code = code.replace(SECOND_ADD, SECOND_ADD + at_second_add, 1)
    if edit:
        code = edit(code)
    p = tmp_path / f"{name}.c"
    p.write_text(code)
    return str(p)


def _short_watchdog(**limits) -> list[str]:
    """argv prefix: the CLI with bench.isolate's limits set to a few seconds."""
    sets = "; ".join(f"i.{k} = {v}" for k, v in limits.items())
    return [sys.executable, "-c",
            f"import sys, bench.isolate as i; {sets}; from bench.cli import main; "
            "sys.exit(main(sys.argv[1:]))"]


def _run(argv, stdin=None, env=None, timeout=300, preexec_fn=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(a) for a in argv], input=stdin, capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=timeout, preexec_fn=preexec_fn)


def _tree(tmp_path, edit=None, makefile=None, name="k"):
    dst = tmp_path / name
    shutil.copytree(KFIX / "v6.6", dst)
    mmu = dst / "arch/x86/kvm/mmu/mmu.c"
    if edit:
        text = mmu.read_text()
        new = edit(text)
        assert new != text
        mmu.write_text(new)
    if makefile is not None:
        (dst / "Makefile").unlink()
        makefile(dst / "Makefile")
    return dst


def _at_add_start(code: str):
    return lambda t: t.replace("\tint n = 0;\n", "\tint n = 0;\n" + code, 1)


def _doc(name: str) -> str:
    """A page of docs/ with its line breaks as spaces."""
    return " ".join((ROOT / "docs" / name).read_text().split())


def _no_child_left(marker: str) -> None:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [ln for ln in out.splitlines() if marker in ln and "ps -eo" not in ln], out


# ---------------------------------------------------------------------------
# 1. a user's variant that crashes or hangs: trace and check
# ---------------------------------------------------------------------------

CRASHES = [
    ("segv", "\t\t*(volatile int *)0 = 1;\n", "SIGSEGV", "op 2, 'add 0 2'"),
    ("abrt", "\t\t__builtin_trap();\n", "SIGILL", "op 2, 'add 0 2'"),
    ("junkhead", "\t\trmap_head->val = 0x10 | KVM_RMAP_MANY;\n\t\treturn 1;\n", "SIGSEGV",
     "dumped head 0's slots"),
]


@pytest.mark.parametrize("name,code,signal,where", CRASHES, ids=[c[0] for c in CRASHES])
def test_trace_of_a_crashing_variant_is_one_line(name, code, signal, where, tmp_path):
    src = _variant(tmp_path, name, code)
    proc = run_cli("trace", "--variant", src, "-", stdin="# two adds\n" + TWO_ADDS)
    assert_usage_error(proc, f"variant {name!r}", src, signal, where)
    assert proc.stdout == ""                    # whole output or none
    if "op 2" in where:
        assert "<stdin>:3" in proc.stderr       # the op's line in the op file


def test_abort_in_a_variant_is_one_line(tmp_path):
    src = _variant(tmp_path, "aborts", "\t\tabort();\n",
                   edit=lambda c: c.replace('#include "rmap.h"', '#include <stdlib.h>\n'
                                                                 '#include "rmap.h"'))
    proc = run_cli("trace", "--variant", src, "-", stdin=TWO_ADDS)
    assert_usage_error(proc, "'aborts'", "SIGABRT", "op 2")


def test_check_of_a_crashing_variant_is_one_line(tmp_path):
    src = _variant(tmp_path, "segv_check", "\t\t*(volatile int *)0 = 1;\n")
    proc = run_cli("check", "--variant", src)
    assert_usage_error(proc, "'segv_check'", "SIGSEGV", "conformance search", "add 0 2")
    assert proc.stdout == ""


def test_a_hanging_variant_is_stopped_by_the_watchdog(tmp_path):
    src = _variant(tmp_path, "hangs_xq7", "\t\tfor (;;)\n\t\t\t__asm__ volatile(\"\");\n")
    argv = _short_watchdog(TRACE_S=3, CHECK_S=3)
    proc = _run(argv + ["trace", "--variant", src, "-"], stdin=TWO_ADDS, timeout=120)
    assert_usage_error(proc, "'hangs_xq7'", "did not finish within 3 s", "op 2, 'add 0 2'")
    assert proc.stdout == ""
    proc = _run(argv + ["check", "--variant", src], timeout=120)
    assert_usage_error(proc, "'hangs_xq7'", "did not finish within 3 s", "conformance")
    _no_child_left("hangs_xq7")


def test_one_call_that_does_not_return_is_stopped_before_the_task_limit(tmp_path):
    """A loop inside one add is stopped NATIVE_S after that call began, not at
    trace's or check's whole-task limit, and the import probe likewise."""
    src = _variant(tmp_path, "stuck_q8", "\t\tfor (;;)\n\t\t\t__asm__ volatile(\"\");\n")
    argv = _short_watchdog(TRACE_S=600, CHECK_S=1800, NATIVE_S=2)
    proc = _run(argv + ["trace", "--variant", src, "-"], stdin=TWO_ADDS, timeout=120)
    assert_usage_error(proc, "'stuck_q8'", "did not return from one call into its code "
                       "within 2 s", "op 2, 'add 0 2'")
    proc = _run(argv + ["check", "--variant", src], timeout=120)
    assert_usage_error(proc, "'stuck_q8'", "within 2 s", "conformance")
    _no_child_left("stuck_q8")


def test_builtins_still_run_in_process():
    from bench.native import trusted
    from bench.variants import builtin_names

    assert all(trusted(v) for v in builtin_names())


def test_isolate_returns_results_and_exceptions():
    from bench import isolate
    from bench.errors import UsageError

    assert isolate.call(lambda: {"a": [1, None]}, label="x", timeout=60) == {"a": [1, None]}

    def bad():
        raise UsageError("named value", context="first\nsecond")

    with pytest.raises(UsageError) as e:
        isolate.call(bad, label="x", timeout=60)
    assert str(e.value) == "named value" and e.value.context == "first\nsecond"


# ---------------------------------------------------------------------------
# 2. import of a tree whose pte_list_add crashes or hangs
# ---------------------------------------------------------------------------

def test_import_of_a_crashing_add_is_one_line(tmp_path):
    tree = _tree(tmp_path, _at_add_start("\tif (rmap_head->val)\n\t\t*(volatile int *)0 = 1;\n"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    build = tmp_path / "b"
    proc = run_cli("import", tree, env={"TMPDIR": str(tmp), "RMAPBENCH_BUILD_DIR": str(build)})
    assert_usage_error(proc, "mmu.c", "SIGSEGV", "pte_list_add of spte 2")
    assert list(tmp.iterdir()) == []
    assert not (build / "imported").exists() or list((build / "imported").iterdir()) == []


def test_import_of_a_hanging_add_is_stopped(tmp_path):
    tree = _tree(tmp_path, _at_add_start("\twhile (rmap_head->val)\n\t\t;\n"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _run(_short_watchdog(LOAD_S=3) + ["import", tree, "--out", tmp_path / "x.c"],
                env={"TMPDIR": str(tmp)}, timeout=120)
    assert_usage_error(proc, "mmu.c", "did not finish within 3 s", "pte_list_add of spte 2")
    assert list(tmp.iterdir()) == [] and not (tmp_path / "x.c").exists()


# ---------------------------------------------------------------------------
# 3. the tree's Makefile, and an existing imported file, read with limits
# ---------------------------------------------------------------------------

def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_makefile_fifo_and_device_are_refused(tmp_path):
    fifo = _tree(tmp_path, makefile=os.mkfifo, name="fifo")
    proc = run_cli("import", fifo, "--out", tmp_path / "x.c", timeout=60)
    assert_usage_error(proc, "Makefile", "FIFO", "regular file")
    zero = _tree(tmp_path, makefile=lambda p: os.symlink("/dev/zero", p), name="zero")
    proc = _run([sys.executable, "-m", "bench.cli", "import", zero, "--out", tmp_path / "x.c"],
                timeout=120, preexec_fn=_limit_memory)
    assert_usage_error(proc, "Makefile", "device", "regular file")
    assert not (tmp_path / "x.c").exists()


def test_import_over_a_device_in_the_build_cache_is_refused(tmp_path):
    (tmp_path / "b" / "imported").mkdir(parents=True)
    os.symlink("/dev/zero", tmp_path / "b" / "imported" / "zz.c")
    proc = _run([sys.executable, "-m", "bench.cli", "import", KFIX / "v6.6", "--name", "zz"],
                env={"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")}, timeout=120,
                preexec_fn=_limit_memory)
    assert_usage_error(proc, "zz.c", "device", "regular file")


# ---------------------------------------------------------------------------
# 4. a FIFO (or a directory) in the build cache's imported/
# ---------------------------------------------------------------------------

def test_broken_entries_in_imported_are_skipped_and_refused_by_name(tmp_path):
    imp = tmp_path / "b" / "imported"
    imp.mkdir(parents=True)
    os.mkfifo(imp / "x.c")
    (imp / "y.c").mkdir()
    env = {"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")}
    proc = run_cli("--version", env=env, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    proc = run_cli("trace", "--variant", "x", "-", stdin=TWO_ADDS, env=env, timeout=60)
    assert_usage_error(proc, "'x'", str(imp / "x.c"), "FIFO", "regular file")
    proc = run_cli("trace", "--variant", "y", "-", stdin=TWO_ADDS, env=env, timeout=60)
    assert_usage_error(proc, "'y'", "directory")
    proc = run_cli("trace", "--variant", "old", "-", stdin=TWO_ADDS, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------
# 5. a malformed RMAPBENCH_USER_VARIANTS
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ['{"x": 5}', "[1]", '{"x": ["/a.c", "abc"]}', "{not json"])
def test_malformed_user_variants_variable_is_one_line(value):
    proc = run_cli("--version", env={"RMAPBENCH_USER_VARIANTS": value})
    assert_usage_error(proc, "RMAPBENCH_USER_VARIANTS")


def test_well_formed_user_variants_variable_is_accepted():
    proc = run_cli("--version", env={"RMAPBENCH_USER_VARIANTS": '{"x": ["/a.c", 3]}'})
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------
# 6. flags whose library cannot be loaded, flags that build nothing, files
#    without the interface
# ---------------------------------------------------------------------------

def _tmp_files(build):
    return [p for p in (build / "native").glob(".tmp-*")] if (build / "native").exists() else []


@pytest.mark.parametrize("flags,needle", [("-fsanitize=address", "'-fsanitize=address'"),
                                          ("-O1 -fsanitize=undefined,thread", "'thread'"),
                                          ("-fsyntax-only", "'-fsyntax-only'"),
                                          ("-E", "'-E'"), ("-O2 -c", "'-c'"),
                                          ("-o stray.so", "'-o'"), ("-ostray.so", "'-ostray.so'")])
def test_library_flags_are_blamed(flags, needle, tmp_path):
    env = {"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")}
    for cmd in (["build", "--variant", "old"], ["trace", "--variant", "old", "-"]):
        proc = run_cli(*cmd, f"--cflags={flags}", stdin=TWO_ADDS, env=env)
        assert_usage_error(proc, needle, "allowed")
        assert "C compiler (CC)" not in proc.stderr
        assert _tmp_files(tmp_path / "b") == []
        assert not (ROOT / "stray.so").exists()


def test_run_and_sweep_refuse_unloadable_flags_before_building(tmp_path):
    """run and sweep check --cflags when they plan, before any kernel is built
    with them: no library built with the refused flags is left in the cache."""
    env = {"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")}
    proc = run_cli("run", "--variant", "old", "--workload", "fork", "--n", "2", "--heads", "4",
                   "--backend", "time", "--budget", "1", "--cflags=-fsanitize=address", env=env)
    assert_usage_error(proc, "'-fsanitize=address'", "allowed")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[options]\ncflags = "-O2 -fsanitize=thread"\n[[grid]]\nworkload = "fork"\n'
                   'variant = ["old"]\nn = 2\nheads = 4\n')
    proc = run_cli("sweep", str(cfg), "--backend", "time", "--out", tmp_path / "o", env=env)
    assert_usage_error(proc, "'thread'", "allowed")
    assert not (tmp_path / "o").exists()
    built = list((tmp_path / "b" / "native").glob("*.so.json")) \
        if (tmp_path / "b" / "native").exists() else []
    assert not [p for p in built if "sanitize" in p.read_text()]


def test_ubsan_library_loads(tmp_path):
    proc = run_cli("trace", "--variant", "old", "--cflags=-O1 -fsanitize=undefined", "-",
                   stdin=TWO_ADDS, env={"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("text", ["", '#include "rmap.h"\nint unrelated(void) { return 0; }\n'],
                         ids=["empty", "no-declaration"])
def test_a_file_without_the_interface_is_blamed(text, tmp_path):
    src = tmp_path / "nothing.c"
    src.write_text(text)
    proc = run_cli("trace", "--variant", src, "-", stdin=TWO_ADDS)
    assert_usage_error(proc, str(src), "declares no rmapbench variant interface",
                       "PTE_LIST_DECLARE")
    assert "C compiler" not in proc.stderr


def test_a_junk_imported_file_is_blamed(tmp_path):
    imp = tmp_path / "b" / "imported"
    imp.mkdir(parents=True)
    (imp / "junk.c").write_text("/* rmapbench-import: default-ext 3 */\nint x;\n")
    proc = run_cli("trace", "--variant", "junk", "-", stdin=TWO_ADDS,
                   env={"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")})
    assert_usage_error(proc, "junk.c", "declares no rmapbench variant interface")


# ---------------------------------------------------------------------------
# 7. a path that is not UTF-8
# ---------------------------------------------------------------------------

def test_variant_path_with_a_non_utf8_byte(tmp_path):
    d = os.fsencode(tmp_path) + b"/d\xff"
    os.mkdir(d)
    named = _template().replace("PTE_LIST_DECLARE(NULL", 'PTE_LIST_DECLARE("odd_dir"')
    with open(d + b"/mine.c", "w") as f:
        f.write(named)
    out = subprocess.run([sys.executable, "-m", "bench.cli", "trace", "--variant",
                          d + b"/mine.c", "-"], input=TWO_ADDS.encode(), capture_output=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[1])["ret"] == 1
    # named after its stem, which is no name: refused, the byte shown escaped
    with open(os.fsencode(tmp_path) + b"/\xfe.c", "w") as f:
        f.write(_template())
    out = subprocess.run([sys.executable, "-m", "bench.cli", "trace", "--variant",
                          os.fsencode(tmp_path) + b"/\xfe.c", "-"], input=b"",
                         capture_output=True, cwd=ROOT, timeout=300)
    err = out.stderr.decode()
    assert out.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "\\xfe.c" in err and "not allowed" in err and "Traceback" not in err


# ---------------------------------------------------------------------------
# 8. #if nested too deep
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cond", ["(" * 5000 + "1" + ")" * 5000, "!" * 5000 + "1"],
                         ids=["parens", "nots"])
def test_deep_if_expression_names_file_and_line(cond, tmp_path):
    tree = _tree(tmp_path, lambda t: "#if 1\n#endif\n#if " + cond + "\n#endif\n" + t)
    proc = run_cli("import", tree, "--out", tmp_path / "x.c")
    assert_usage_error(proc, "mmu.c:3", "nested deeper than 64")


def test_if_expressions_still_evaluate():
    from bench.kimport import _cpp_value

    for expr, want in [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("1 || 0 && 0", 1),
                       ("0 ? 2 : 0 ? 4 : 5", 5), ("8 >> 1 << 2", 16), ("1 - 2 - 3", -4),
                       ("1 | 2 ^ 3 & 6", 1), ("2 == 2 == 1", 1), ("-3 + ~0", -4),
                       ("(" * 64 + "1" + ")" * 64, 1), ("!" * 64 + "1", 1)]:
        assert _cpp_value(expr, {}, "x") == want, expr


# ---------------------------------------------------------------------------
# 9. reading is linear in preprocessor lines
# ---------------------------------------------------------------------------

class _CountingStr(str):
    """A source whose .count() adds up the characters it scans."""
    scanned = 0

    def count(self, sub, start=0, end=None):
        end = len(self) if end is None else end
        _CountingStr.scanned += max(0, end - start)
        return super().count(sub, start, end)


def test_conditionals_do_not_rescan_the_file():
    from bench.kimport import active_tokens, tokenize

    src = _CountingStr("#define a 1\n#if 0\nint x;\n#endif\n" * 3000)
    toks = tokenize(src, "m.c")
    _CountingStr.scanned = 0
    active_tokens(toks, src, "m.c")
    assert _CountingStr.scanned <= 4 * len(src)


def test_cut_and_lines_of_many_items():
    from bench.kimport import LineOf, _cut, _merged

    src = "".join(f"{k:04d}\n" for k in range(100))
    line_of = LineOf(src)
    assert [line_of(i * 5) for i in (0, 1, 99)] == [1, 2, 100]
    dropped = _merged([(10, 40), (15, 20), (50, 55)])
    assert dropped == [(10, 40), (50, 55)]
    assert _cut(src, 5, 60, dropped) == src[5:10] + src[40:50] + src[55:60]
    assert _cut(src, 40, 52, dropped) == src[40:50]


# ---------------------------------------------------------------------------
# 10. compile errors: the compiler's lines, then one line naming the file
# ---------------------------------------------------------------------------

def _assert_compile_error_last(proc, src, line):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"rmapbench: error: variant file {str(src)!r} does not "
                                f"compile: {src}:{line}:"), lines[-1]
    assert sum(ln.startswith("rmapbench: error:") for ln in lines) == 1
    assert not lines[0].startswith("rmapbench:")     # the compiler's own lines first


def test_compile_errors_end_with_the_one_line(tmp_path):
    bad = tmp_path / "broken.c"
    bad.write_text('#include "rmap.h"\nint pte_list_add(((void) { return ; }\n')
    _assert_compile_error_last(run_cli("trace", "--variant", bad, "-", stdin=""), bad, 2)
    noinc = tmp_path / "noinc.c"
    noinc.write_text('#include "rmap.h"\n#include "no_such_header_here.h"\n')
    _assert_compile_error_last(run_cli("trace", "--variant", noinc, "-", stdin=""), noinc, 2)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[grid]]\nworkload = "fork"\nvariant = ["old", "./broken.c"]\n'
                   'n = [2]\nheads = [4]\n')
    _assert_compile_error_last(run_cli("sweep", cfg, "--list", "--backend", "time"), bad, 2)


# ---------------------------------------------------------------------------
# 11. link errors in import name the symbol
# ---------------------------------------------------------------------------

def test_import_link_error_names_the_symbol(tmp_path):
    def edit(t):
        t = t.replace("static int pte_list_add(", "void kvm_frob_desc(void);\n\n"
                      "static int pte_list_add(", 1)
        return t.replace("\tint n = 0;\n", "\tint n = 0;\n\n\tkvm_frob_desc();\n", 1)
    proc = run_cli("import", _tree(tmp_path, edit), "--out", tmp_path / "x.c")
    assert_usage_error(proc, "undefined reference to 'kvm_frob_desc'", "pte_list_add",
                       "does not link")
    assert "ld returned" not in proc.stderr


# ---------------------------------------------------------------------------
# 12. a file output given as a directory
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [["check", "--variant", "old"], ["import", str(KFIX / "v6.6")]],
                         ids=["check", "import"])
def test_out_with_a_trailing_slash_is_refused(cmd, tmp_path):
    out = f"{tmp_path}/x{'.c' if cmd[0] == 'import' else ''}/"
    proc = run_cli(*cmd, "--out", out)
    assert_usage_error(proc, repr(out), "a file path is allowed")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# 13. '@' in a variant file's path in a sweep config
# ---------------------------------------------------------------------------

def test_at_sign_in_a_config_path(tmp_path):
    (tmp_path / "my@v.c").write_text(
        _template().replace("PTE_LIST_DECLARE(NULL", 'PTE_LIST_DECLARE("myv"'))
    cfg = tmp_path / "c.toml"
    grid = '[[grid]]\nworkload = "fork"\nvariant = ["old", "{}"]\nn = [2]\nheads = [4]\n'
    cfg.write_text(grid.format("./my@v.c"))
    proc = run_cli("sweep", cfg, "--list", "--backend", "time")
    assert proc.returncode == 0, proc.stderr
    assert "myv@14" in proc.stdout
    cfg.write_text(grid.format("./my@v.c@3"))
    proc = run_cli("sweep", cfg, "--list", "--backend", "time")
    assert proc.returncode == 0 and "myv@3" in proc.stdout, proc.stderr
    (tmp_path / "other@x.c").write_text(_template())
    cfg.write_text(grid.format("./other@x.c"))
    assert_usage_error(run_cli("sweep", cfg, "--list", "--backend", "time"),
                       "other@x.c", "'other@x' is not allowed")


def test_split_ext():
    from bench.variants import split_ext

    assert split_ext("old@3") == ("old", "@", "3")
    assert split_ext("./my@v.c") == ("./my@v.c", "", "")
    assert split_ext("./my@v.c@14") == ("./my@v.c", "@", "14")
    assert split_ext("old@") == ("old@", "", "")


# ---------------------------------------------------------------------------
# 14a. the tree's Makefile version fields
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("patchlevel,needle", [("\u0666", "PATCHLEVEL '\u0666'"),
                                               ("6" * 60, "PATCHLEVEL '6666")],
                         ids=["unicode-digit", "60-digits"])
def test_bad_makefile_version_names_the_makefile(patchlevel, needle, tmp_path):
    tree = _tree(tmp_path, makefile=lambda p: p.write_text(
        f"VERSION = 6\nPATCHLEVEL = {patchlevel}\nSUBLEVEL = 0\nEXTRAVERSION =\n"))
    proc = run_cli("import", tree, "--out", tmp_path / "x.c")
    assert_usage_error(proc, "Makefile", "line 2", needle, "ASCII digits")
    assert "--name" not in proc.stderr


def test_extraversion_stays_out_of_the_default_name(tmp_path):
    tree = _tree(tmp_path, makefile=lambda p: p.write_text(
        "VERSION = 6\nPATCHLEVEL = 6\nSUBLEVEL =\nEXTRAVERSION = -RC1+\n"))
    proc = run_cli("import", tree, "--out", tmp_path / "x.c")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^variant: linux-6\.6-[0-9a-f]{8}$", proc.stdout, re.M), proc.stdout
    assert "kernel: Linux 6.6-RC1+" in proc.stdout


# ---------------------------------------------------------------------------
# 14b. what the docs say import does: --out's EXT, --name
# ---------------------------------------------------------------------------

def test_out_file_by_path_has_the_trees_ext(tmp_path):
    out = tmp_path / "imp3.c"
    proc = run_cli("import", KFIX / "v3", "--out", out, "--name", "imp3")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("trace", "--variant", out, "-", stdin="add 0 1\nadd 0 2\nadd 0 3\nadd 0 4\n")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout.splitlines()[-1])["descs"][0]) == 3
    doc = _doc("import.md")
    assert "user-variant default EXT (14) unless" not in doc
    assert "`/* rmapbench-import: default-ext N */`" in _doc("variants.md")


def test_name_needs_a_leading_letter_or_digit(tmp_path):
    proc = run_cli("import", KFIX / "v6.6", "--name", ".x", "--out", tmp_path / "x.c")
    assert_usage_error(proc, "'.x'", "starting with a letter or digit")
    assert "starting with a letter or digit" in _doc("import.md")


# ---------------------------------------------------------------------------
# 15. an --out file with the name of a registered import
# ---------------------------------------------------------------------------

def test_out_file_of_a_registered_import(tmp_path):
    env = {"RMAPBENCH_BUILD_DIR": str(tmp_path / "b")}
    proc = run_cli("import", KFIX / "v5.10", env=env)
    assert proc.returncode == 0, proc.stderr
    name = re.search(r"^variant: (\S+)", proc.stdout, re.M).group(1)
    out = tmp_path / "k.c"
    proc = run_cli("import", KFIX / "v5.10/arch/x86/kvm/mmu/mmu.c", "--out", out, env=env)
    assert proc.returncode == 0 and f"variant: {name}" in proc.stdout, proc.stderr
    # the same text as the registered one: the same variant, by path or name
    proc = run_cli("trace", "--variant", out, "-", stdin=TWO_ADDS, env=env)
    assert proc.returncode == 0, proc.stderr
    by_name = run_cli("trace", "--variant", name, "-", stdin=TWO_ADDS, env=env)
    assert by_name.stdout == proc.stdout
    # a different text under that name is refused, naming both files
    out.write_text(out.read_text().replace("/* ---- kernel code", "/* edited */\n/* ---- kernel code"))
    proc = run_cli("trace", "--variant", out, "-", stdin=TWO_ADDS, env=env)
    assert_usage_error(proc, str(out), f"{name}.c", "content differs")
