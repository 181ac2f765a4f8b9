from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor

import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.backtest.walkforward import (
    WalkForwardError,
    candidates,
    make_windows,
    parse_spec,
    walk_forward,
)
from plugins.strategies.sma_cross import SmaCross
from tests.helpers import random_bars


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
