"""Property tests: random bytes and random TOML fed to every reader.

Each reader either returns a value that holds its contract or raises
bench.errors.UsageError with one line; any other exception is a failure.
Readers: op files (bench.trace.read_ops), configs (bench.config.parse_config
and expand), meta.json (RunDir.read_meta), results.parquet
(bench.results.load_results), and the number parser of every option
(bench.values)."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.errors import UsageError

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def one_line(e: UsageError) -> None:
    text = str(e)
    assert text and "\n" not in text, text


# -- numbers --------------------------------------------------------------------

@SETTINGS
@given(st.one_of(st.text(max_size=30), st.from_regex(r"-?[0-9]{1,45}", fullmatch=True),
                 st.sampled_from(["+1", "1_0", "\u0661", " 1", "1 ", "", "0x1", "1e3", "\uff11"])),
       st.integers(-5, 5), st.integers(0, 1 << 40))
def test_parse_int_takes_ascii_decimal_in_range_only(text, lo, span):
    from bench.values import parse_int

    hi = lo + span
    try:
        v = parse_int("--x", text, lo, hi)
    except UsageError as e:
        one_line(e)
        ok = re.fullmatch(r"-?[0-9]+", text) is not None and len(text.lstrip("-")) <= 40
        assert not ok or not lo <= int(text) <= hi
        return
    assert re.fullmatch(r"-?[0-9]+", text) and v == int(text) and lo <= v <= hi


@SETTINGS
@given(st.one_of(st.text(max_size=20), st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{1,5})?", fullmatch=True),
                 st.sampled_from(["nan", "inf", "-inf", "1e400", ".5", "5.", "1_0"])))
def test_parse_number_is_finite_and_in_range(text):
    from bench.values import parse_number

    try:
        x = parse_number("--x", text, 0.0, 60.0)
    except UsageError as e:
        one_line(e)
        return
    assert math.isfinite(x) and 0 < x <= 60 and re.fullmatch(r"[0-9]+(\.[0-9]+)?", text)


@SETTINGS
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(),
                 st.from_regex(r"[0-9]{1,30}(\.[0-9]{1,3})? ?(K|M|G|T|KiB|GiB|TiB|B)?",
                               fullmatch=True)))
def test_parse_size_is_bounded(v):
    from bench.values import SIZE_MAX, parse_size

    s = parse_size(v)
    assert s is None or (isinstance(s, int) and 0 < s <= SIZE_MAX)


# -- op files --------------------------------------------------------------------

OP_LINES = st.lists(st.one_of(
    st.builds(lambda op, h, sp, sep: f"{op}{sep}{h}{sep}{sp}",
              st.sampled_from(["add", "remove", "walk", "count", "x"]),
              st.integers(-2, 1 << 21), st.integers(-2, 1 << 61),
              st.sampled_from([" ", "\t", "  ", "\x0b", "\xa0"])),
    st.builds(lambda op, h: f"{op} {h}", st.sampled_from(["walk", "count"]),
              st.integers(0, 5)),
    st.text(max_size=12)), max_size=8)


@SETTINGS
@given(st.one_of(st.binary(max_size=300),
                 st.tuples(OP_LINES, st.sampled_from(["\n", "\r\n", "\x0c", "\u2028", "\x85"]))
                 .map(lambda t: t[1].join(t[0]).encode())))
def test_op_files(tmp_path_factory, data):
    from bench.trace import ARITY, MAX_HEAD, MAX_SPTE, read_ops

    p = tmp_path_factory.mktemp("ops") / "ops"
    p.write_bytes(data)
    try:
        ops = read_ops(str(p))
    except UsageError as e:
        one_line(e)
        return
    text = data.decode("utf-8")
    # every op is one line split on '\n' only, its tokens split on ASCII blanks only
    real = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    real = [ln.strip(" \t") for ln in real]
    real = [ln for ln in real if ln and not ln.startswith("#")]
    assert len(ops) == len(real)
    for op, line in zip(ops, real):
        assert op[0] in ARITY and len(op) == ARITY[op[0]] + 1
        assert 0 <= op[1] < MAX_HEAD and (len(op) == 2 or 1 <= op[2] <= MAX_SPTE)
        tok = re.split(r"[ \t]+", line)
        assert [tok[0]] + [int(t) for t in tok[1:]] == list(op)


# -- configs -------------------------------------------------------------------

KEYS = ["workload", "variant", "ext", "n", "heads", "order", "alloc", "seed", "name",
        "from", "to", "step", "times", "backend", "max_sptes", "max_footprint", "budget",
        "precision", "cpu", "pyperf", "processes", "fast", "zz"]
SCALARS = st.one_of(
    st.integers(min_value=-(1 << 70), max_value=1 << 70), st.floats(allow_nan=True),
    st.booleans(), st.text(max_size=10),
    st.sampled_from(["fork", "walk", "guest", "null", "old", "new", "old@14", "old@\u0663",
                     "l2", "llc", "64MiB", "1e400", "default", "fifo", "bump", "time"]))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"


VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12)
TABLE = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


def _doc(top, grids) -> str:
    out = []
    for name, table in top.items():
        out.append(f"[{name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for g in grids:
        out.append("[[grid]]")
        out += [f"{k} = {_toml_value(v)}" for k, v in g.items()]
    return "\n".join(out) + "\n"


def _check_config(text: str) -> None:
    from bench.config import MAX_CASES, expand, parse_config

    try:
        cfg = parse_config(text, "<random>")
        planned = expand(cfg, {"L1d": 32768, "L2": 1 << 20, "LLC": 32 << 20}, 0, "time")
    except UsageError as e:
        one_line(e)
        return
    assert 0 < len(planned) <= MAX_CASES
    from bench.config import check_case

    for p in planned:
        check_case(p.case, cfg.options, "time")


@SETTINGS
@given(st.dictionaries(st.sampled_from(["options", "defaults", "zz"]), TABLE, max_size=2),
       st.lists(TABLE.map(lambda t: {"workload": "fork", "n": [2], "heads": [4],
                                     "variant": ["old"], **t}), max_size=3))
def test_random_toml_configs(top, grids):
    _check_config(_doc(top, grids))


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_configs(text):
    _check_config(text)


# -- meta.json -----------------------------------------------------------------

@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    from tests.analysis_synth import write_run

    return write_run(tmp_path_factory.mktemp("good") / "r", variants=["old"], ns=[4])


JSONS = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                               st.text(max_size=8)),
                     lambda inner: st.one_of(st.lists(inner, max_size=3),
                                             st.dictionaries(st.text(max_size=8), inner,
                                                             max_size=3)),
                     max_leaves=10)
META_KEYS = ["status", "run_id", "host", "backend", "events", "format_version", "sim",
             "tuning_warnings", "plan", "config", "created", "cases", "pyperf"]


@SETTINGS
@given(st.one_of(st.binary(max_size=200).map(lambda b: ("raw", b)),
                 st.tuples(st.just("change"), st.sampled_from(META_KEYS), JSONS)))
def test_meta_json(good_run, tmp_path_factory, change):
    import shutil

    from bench.meta import FORMAT_VERSION
    from bench.results import RunDir

    run = tmp_path_factory.mktemp("meta") / "r"
    shutil.copytree(good_run, run)
    p = run / "meta.json"
    if change[0] == "raw":
        p.write_bytes(change[1])
    else:
        meta = json.loads(p.read_text())
        meta[change[1]] = change[2]
        p.write_text(json.dumps(meta))
    try:
        meta = RunDir(run).read_meta()
    except UsageError as e:
        one_line(e)
        return
    assert meta["format_version"] == FORMAT_VERSION and meta["status"] in ("incomplete", "complete")
    assert isinstance(meta["host"], dict) and isinstance(meta["tuning_warnings"], list)
    assert meta["backend"]["chosen"] in ("perf", "sim", "time")


# -- results.parquet -----------------------------------------------------------

CELLS = st.one_of(st.none(), st.integers(-(1 << 62), 1 << 62), st.floats(),
                  st.text(max_size=6), st.booleans(),
                  st.sampled_from(["perf", "sim", "time", "fork", "add", "fifo", "bump",
                                   "ns/op", "old"]))


@SETTINGS
@given(st.one_of(
    st.binary(max_size=300).map(lambda b: ("raw", b)),
    st.tuples(st.just("cells"),
              st.lists(st.tuples(st.sampled_from(["run_id", "host", "backend", "workload",
                                                  "phase", "variant", "ext", "n", "heads",
                                                  "order", "alloc", "seed", "cpu", "metric",
                                                  "value", "unit", "ops", "loops", "process",
                                                  "sample", "enabled_ratio", "simulated",
                                                  "footprint"]),
                                 st.integers(0, 3), CELLS), min_size=1, max_size=4))))
def test_results_parquet(good_run, tmp_path_factory, change):
    import numpy as np
    import pandas as pd

    from bench.results import COLUMNS, load_results

    p = tmp_path_factory.mktemp("res") / "results.parquet"
    if change[0] == "raw":
        p.write_bytes(change[1])
    else:
        df = pd.read_parquet(good_run / "results.parquet")
        for col, row, value in change[1]:
            kinds = {type(value) for value in [value]}
            df[col] = df[col].astype(object)
            df.at[row, col] = value
            # a parquet column holds one type: keep the column as text when mixed
            if any(isinstance(v, str) for v in df[col]) or kinds & {bool}:
                df[col] = df[col].map(lambda v: None if v is None else str(v))
        try:
            df.to_parquet(p)
        except Exception:
            assume(False)
    try:
        df = load_results(p)
    except UsageError as e:
        one_line(e)
        return
    assert set(COLUMNS) <= set(df.columns) and len(df)
    assert np.isfinite(df["value"]).all()
    assert df["backend"].isin(["perf", "sim", "time"]).all()
    assert (df["heads"] >= 1).all() and (df["ext"] >= 2).all()
