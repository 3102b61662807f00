"""The fuzzing suite's fast slice (seeded, a few hundred cases per loader in all) and the shared regression
corpus; each case runs in a worker under a time limit and an address-space limit (see runner.py)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .runner import GOOD, run_cases
from .targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "fuzz-corpus"
SLICE_CASES = 40  # per loader: 1,040 cases in all (26 loaders); ~55 s wall for this file at load 5-6


def _failures(results) -> list[str]:
    return [f"{r.target} #{r.index}: {r.outcome}: {r.detail}" for r in results if r.outcome not in GOOD]


def test_fast_slice_every_loader_ends_clean_or_in_one_studio_error():
    cases = [(t, i) for i in range(SLICE_CASES) for t in TARGETS]
    results = run_cases(cases, seed=20261208, workers=2, timeout=20.0)
    assert len(results) == len(cases)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes["studio_error"] > len(cases) // 4, outcomes  # the mutations do reach the checks
    assert not _failures(results), "\n".join(_failures(results))



def test_shared_regression_corpus():
    """Every file the first fuzzing campaign kept (../shared/fuzz-corpus/<format>/) now loads or fails cleanly."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared fuzz corpus is not here ({CORPUS})")
    from .worker import message_problem, nonfinite
    from avatar_studio.core.errors import StudioError
    failures = []
    count = 0
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        target = TARGETS.get(folder.name)
        assert target is not None, f"no fuzz target for corpus folder {folder.name}"
        for case in sorted(folder.iterdir()):
            count += 1
            try:
                where = nonfinite(target.load(case))
                if where:
                    failures.append(f"{folder.name}/{case.name}: NaN/Inf passed on at {where}")
            except StudioError as err:
                problem = message_problem(str(err))
                if problem:
                    failures.append(f"{folder.name}/{case.name}: {problem}")
            except Exception as err:  # noqa: BLE001 - the finding
                failures.append(f"{folder.name}/{case.name}: {type(err).__name__}: {str(err)[:200]}")
    assert count > 0
    assert not failures, "\n".join(failures)


def test_shared_regression_corpus_through_the_front_door():
    """The same corpus through `core.open` (classify, then open by content): each case loads or fails in one
    StudioError with a clear message; nothing else escapes, whatever the folder it came from says it is."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared fuzz corpus is not here ({CORPUS})")
    from .targets import load_open
    from .worker import message_problem, nonfinite
    from avatar_studio.core.errors import StudioError
    failures = []
    cases = sorted(case for folder in CORPUS.iterdir() if folder.is_dir() for case in folder.iterdir())
    for case in cases:
        label = f"{case.parent.name}/{case.name}"
        try:
            where = nonfinite(load_open(case))
            if where:
                failures.append(f"{label}: NaN/Inf passed on at {where}")
        except StudioError as err:
            problem = message_problem(str(err))
            if problem:
                failures.append(f"{label}: {problem}")
        except Exception as err:  # noqa: BLE001 - the finding
            failures.append(f"{label}: {type(err).__name__}: {str(err)[:200]}")
    assert cases
    assert not failures, "\n".join(failures)
