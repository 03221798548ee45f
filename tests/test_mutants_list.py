"""The mutant list of `make mutants` (tests/mutants.py) is well formed and
still matches the tree: every original text occurs exactly once in its file,
so the list is maintained together with the code it mutates."""

from collections import Counter

from mutants import MUTANTS, Mutant
from run_mutants import ROOT, check_list

# the seven bugs that once survived the whole suite (issue 15's table)
ONCE_SURVIVED = {"stats-bca-never", "stats-verdict-on-p", "stats-q-is-p",
                 "runner-scaling-inverted", "results-stale-kept", "results-parquet-first",
                 "lf-count-before-hole"}


def test_every_original_occurs_exactly_once_and_tests_exist():
    assert check_list(MUTANTS) == []


def test_the_list_covers_kernels_harness_and_statistics():
    assert len(MUTANTS) >= 30
    area = Counter("kernel" if m.file.startswith("native/pte_list_") else
                   "harness" if m.file in ("native/harness.c", "native/counters.c") else
                   "stats" if m.file in ("analysis/stats.py", "bench/measure.py") else
                   "other" for m in MUTANTS)
    assert area["kernel"] >= 10 and area["harness"] >= 5 and area["stats"] >= 10, area
    assert ONCE_SURVIVED <= {m.id for m in MUTANTS}
    assert all(m.why and m.id.replace("-", "").isalnum() for m in MUTANTS)


def test_check_list_reports_a_stale_or_ambiguous_original(tmp_path):
    (tmp_path / "f.c").write_text("a = 1;\nb = 1;\nb = 1;\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_f.py").write_text("def test_f():\n    pass\n")
    ok = Mutant("ok", "f.c", "a = 1;", "a = 2;", ("tests/test_f.py::test_f",), "w")
    gone = Mutant("gone", "f.c", "c = 1;", "c = 2;", ("tests/test_f.py",), "w")
    twice = Mutant("twice", "f.c", "b = 1;", "b = 2;", ("tests/test_f.py",), "w")
    notest = Mutant("notest", "f.c", "a = 1;", "a = 3;", ("tests/test_f.py::test_g",), "w")
    assert check_list([ok], tmp_path) == []
    errors = check_list([ok, gone, twice, notest, ok], tmp_path)
    assert any(e.startswith("gone: original text occurs 0 times") for e in errors)
    assert any(e.startswith("twice: original text occurs 2 times") for e in errors)
    assert any(e.startswith("notest: tests/test_f.py has no test test_g") for e in errors)
    assert "ok: duplicate id" in errors
    assert ROOT.joinpath("tests", "mutants.py").is_file()
