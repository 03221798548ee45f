import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.variants import builtin_names

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = builtin_names()    # the registry (bench/variants.py)

# `make mutants` (tests/run_mutants.py) needs a failing example, not the
# smallest one: property tests skip hypothesis's shrinking there.
if os.environ.get("RMAPBENCH_MUTANTS_NO_SHRINK"):
    from hypothesis import Phase, settings as _hyp_settings

    _hyp_settings.register_profile("mutants", phases=[Phase.explicit, Phase.reuse,
                                                      Phase.generate])
    _hyp_settings.load_profile("mutants")


def run_cli(*args, stdin=None, env=None, timeout=600):
    """Run the real console entry point in a subprocess."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "bench.cli", *map(str, args)],
                          input=stdin, capture_output=True, text=True, env=e,
                          cwd=ROOT, timeout=timeout)


def assert_usage_error(proc, *needles):
    """Exit 2, exactly one line on stderr naming the bad value, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="session")
def cc():
    path = shutil.which(os.environ.get("CC", "cc"))
    if not path:
        pytest.skip("no C compiler on this machine")
    return path
