from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor

import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.backtest.walkforward import (
    AutoPool,
    WalkForwardError,
    candidates,
    make_windows,
    parse_spec,
    pool_pays,
    walk_forward,
)
from plugins.strategies.sma_cross import SmaCross
from tests.helpers import assert_same_stats, random_bars


def test_windows_roll_by_the_test_length_and_never_overlap_their_test() -> None:
    ws = make_windows(1000, 400, 200)
    assert [(w.train_start, w.train_end, w.test_start, w.test_end) for w in ws] == [
        (0, 400, 400, 600),
        (200, 600, 600, 800),
        (400, 800, 800, 1000),
    ]
    with pytest.raises(WalkForwardError, match="too few"):
        make_windows(500, 400, 200)
    assert parse_spec("2000:500") == (2000, 500)
    for bad in ("2000", "a:b", "0:5"):
        with pytest.raises(WalkForwardError):
            parse_spec(bad)


def test_candidates_respect_ranges_constraints_and_fixed_values() -> None:
    sets = candidates(SmaCross, max_evals=1000)
    assert sets and all(2 <= s["fast"] < s["slow"] <= 400 for s in sets)
    assert len(candidates(SmaCross, max_evals=7)) == 7
    assert {s["fast"] for s in candidates(SmaCross, fixed={"fast": 12})} == {12}


def test_each_window_picks_its_train_best_and_is_judged_on_unseen_bars() -> None:
    bars = random_bars(1_600, seed=4)
    config = BacktestConfig(commission=0.001, cash=100_000)
    result = walk_forward(SmaCross, bars, 600, 300, config, metric="return_pct", max_evals=8)
    assert len(result.windows) == 3
    final = dataclasses.replace(config, finalize_trades=True)
    for w in result.windows:
        train = bars.slice(w.window.train_start, 600)
        scores = {
            tuple(p.values()): run_backtest(SmaCross(**p), train, final).stats["return_pct"]
            for p in candidates(SmaCross, max_evals=8)
        }
        assert w.in_sample["return_pct"] == pytest.approx(max(scores.values()))
        # out of sample: the chosen params, warm-up from before the window, trades only inside
        warm = SmaCross(**w.params).warmup
        oos = bars.slice(w.window.test_start - warm, 300 + warm)
        assert w.out_of_sample["bars"] == 300 + warm
        direct = run_backtest(SmaCross(**w.params), oos, final)
        assert w.out_of_sample["return_pct"] == pytest.approx(direct.stats["return_pct"])
        assert direct.trades["entry_bar"].min() > warm  # no trade before the test window
    assert set(result.summary["return_pct"]) == {"in_sample", "out_of_sample"}
    assert result.to_dict()["windows"][0]["test"] == [600, 900]


def test_a_process_pool_gives_the_same_result_as_a_plain_map() -> None:
    bars = random_bars(900, seed=8)
    plain = walk_forward(SmaCross, bars, 400, 250, max_evals=4)
    ticks: list[int] = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = walk_forward(
            SmaCross,
            bars,
            400,
            250,
            max_evals=4,
            map_fn=pool.map,
            progress=lambda done, total: ticks.append(done),
        )
    assert pooled.to_dict() == plain.to_dict()
    assert ticks == list(range(1, 4 * 2 + 2 + 1))


def _full(result: object) -> str:
    """Every window's range, chosen params and complete in/out-of-sample stats, as text (NaN
    spelled the same on both sides)."""
    import json

    windows = result.windows  # type: ignore[attr-defined]
    return json.dumps(
        [
            [dataclasses.asdict(w.window), w.params, w.in_sample, w.out_of_sample, w.candidates]
            for w in windows
        ],
        default=str,
        sort_keys=True,
    )


def test_auto_pool_starts_a_pool_only_when_the_work_left_pays() -> None:
    bars = random_bars(1_200, seed=6)
    plain = walk_forward(SmaCross, bars, 400, 200, max_evals=6)
    runs = {}
    for label, pool in {
        # one job timed: of the four windows' searches, two are left to pool
        "never pays": AutoPool(2, threshold_s=1e9, probe_jobs=1),
        "always pays": AutoPool(2, threshold_s=0.0, probe_jobs=1),
        "one worker": AutoPool(1, threshold_s=0.0, probe_jobs=1),
    }.items():
        with pool:
            runs[label] = walk_forward(SmaCross, bars, 400, 200, max_evals=6, map_fn=pool)
            assert (pool.pool is not None) == (label == "always pays")
        assert pool.pool is None  # closed on leaving
        assert pool.workers_used == (2 if label == "always pays" else 1)
    assert len(plain.windows) == 4
    for result in runs.values():
        assert _full(result) == _full(plain)
        assert result.summary == plain.summary


def test_pool_rule_and_probe_order() -> None:
    assert not pool_pays(10.0, 1, threshold_s=1.0)
    assert not pool_pays(0.5, 4, threshold_s=1.0)
    assert pool_pays(1.5, 2, threshold_s=1.0)
    pool = AutoPool(2, threshold_s=1e9)
    assert list(pool(lambda x: x * x, range(50))) == [x * x for x in range(50)]
    assert list(pool(lambda x: x, [])) == []


def test_the_in_sample_search_is_one_batched_job_per_training_window() -> None:
    """Each training window's candidates go out as one job (one frame, every set), which a
    batched sweep runs; the chosen figures are those of a plain backtest of that window."""
    bars = random_bars(1_000, seed=2)
    seen: list[list[object]] = []

    def recording_map(fn, jobs):  # type: ignore[no-untyped-def]
        jobs = list(jobs)
        seen.append(jobs)
        return map(fn, jobs)

    result = walk_forward(SmaCross, bars, 400, 200, max_evals=5, map_fn=recording_map)
    search, tests = seen
    assert len(search) == 3 and len(tests) == 3
    assert [len(job[1]) for job in search] == [5, 5, 5]  # type: ignore[index]
    assert [job[2].height for job in search] == [400, 400, 400]  # type: ignore[index]
    final = BacktestConfig(finalize_trades=True)
    for w in result.windows:
        train = bars.slice(w.window.train_start, 400)
        assert_same_stats(w.in_sample, run_backtest(SmaCross(**w.params), train, final).stats)


def test_window_runs_are_the_runs_behind_each_windows_figures() -> None:
    from engine.backtest.walkforward import window_runs

    bars = random_bars(1_600, seed=4)
    config = BacktestConfig(commission=0.001, cash=100_000)
    result = walk_forward(SmaCross, bars, 600, 300, config, max_evals=8)
    runs = window_runs(SmaCross, bars, result, config)
    assert [r.window for r in runs] == [w.window for w in result.windows]
    for w, r in zip(result.windows, runs, strict=True):
        assert r.in_sample is not None and r.out_of_sample is not None
        assert r.in_sample.stats == w.in_sample
        assert r.out_of_sample.stats == w.out_of_sample
        assert len(r.in_sample.equity) == 600
        assert len(r.out_of_sample.equity) - r.test_offset == 300
        assert r.test_offset == SmaCross(**w.params).warmup
