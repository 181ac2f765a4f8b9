from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.strategy import INTERFACE_VERSION, Context, Strategy
from workstation.strategies.discovery import (
    GuardedStrategy,
    StrategyNotFound,
    create,
    discover,
    get,
    strategies_dir,
)

GOOD = """
from engine.strategy import Param, Strategy

class Breakout(Strategy):
    name = "breakout"
    params = {"n": Param(20, low=5, high=100)}

    def on_bar(self, ctx, bars, **kwargs):
        return None
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_first_party_strategies_come_from_entry_points() -> None:
    infos = {i.name: i for i in discover()}
    assert {"sma_cross", "rsi_reversion"} <= set(infos)
    assert infos["sma_cross"].enabled and "entry point" in infos["sma_cross"].source
    assert infos["sma_cross"].params["fast"].default == 10


def test_user_folder_strategies_load_and_broken_ones_are_disabled_with_traceback() -> None:
    folder = strategies_dir()
    _write(folder, "breakout.py", GOOD)
    _write(folder, "broken.py", "import numpy\nraise RuntimeError('half-written')\n")
    _write(folder, "syntax.py", "def oops(:\n")
    _write(folder, "empty.py", "X = 1\n")
    _write(
        folder, "clash.py", GOOD.replace("Breakout", "Other").replace('"breakout"', '"sma_cross"')
    )
    _write(
        folder,
        "future.py",
        GOOD.replace('"breakout"', '"future"').replace(
            "params =", f"interface_version = {INTERFACE_VERSION + 1}\n    params ="
        ),
    )
    infos = discover()
    by_source = {Path(i.source).name: i for i in infos if i.source.endswith(".py")}
    assert by_source["breakout.py"].enabled
    assert "half-written" in by_source["broken.py"].error
    assert "Traceback" in by_source["broken.py"].traceback
    assert "SyntaxError" in by_source["syntax.py"].error
    assert "no Strategy subclass" in by_source["empty.py"].error
    assert "already taken" in by_source["clash.py"].error
    assert (
        "interface 2" in by_source["future.py"].error and "upgrade" in by_source["future.py"].error
    )
    assert get("sma_cross").__module__ == "plugins.strategies.sma_cross"  # first party kept
    assert create("breakout", {"n": "30"}).params == {"n": 30}
    with pytest.raises(StrategyNotFound, match="disabled"):
        get("future")
    with pytest.raises(StrategyNotFound, match=r"available: .*sma_cross"):
        get("nope")


def test_a_strategy_that_raises_at_run_time_is_disabled_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(Strategy):
        name = "flaky"
        calls = 0

        def on_bar(self, ctx: Context, bars: Any, **kwargs: Any) -> None:
            Flaky.calls += 1
            raise KeyError("missing column")

    guarded = GuardedStrategy(Flaky())
    with caplog.at_level(logging.ERROR):
        assert guarded.on_bar(None, None) is None  # type: ignore[arg-type]
        guarded.on_bar(None, None)  # type: ignore[arg-type]
    assert not guarded.enabled and Flaky.calls == 1
    assert "KeyError" in guarded.error and "Traceback" in guarded.error
    assert "flaky disabled" in caplog.text


def test_the_worked_example_in_the_guide_loads_and_trades() -> None:
    import asyncio
    import re

    from engine.backtest.backtester import BacktestConfig, run_backtest
    from feeds.demo import DemoFeed

    guide = (Path(__file__).parents[3] / "docs" / "strategies.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(# file: breakout.py\n.*?)```", guide, re.S)
    assert code is not None
    _write(strategies_dir(), "breakout.py", code.group(1))
    info = {i.name: i for i in discover()}["breakout"]
    assert info.enabled, info.traceback
    bars = asyncio.run(DemoFeed(seed=7).history("XAUUSD", "1h", limit=3_000))
    result = run_backtest(create("breakout", {"n": "30"}), bars, BacktestConfig(cash=100_000))
    assert result.stats["trades"] > 3
    assert (result.trades["size"] > 0).all()
    assert (result.trades["sl"] < result.trades["entry_price"]).all()


def test_get_of_an_entry_point_name_loads_that_plugin_alone(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    _write(strategies_dir(), "noisy.py", f"open({str(marker)!r}, 'w').close()\n" + GOOD)
    assert get("sma_cross").__module__ == "plugins.strategies.sma_cross"
    assert not marker.exists()  # the user's files were not run for a first-party name
    assert get("breakout").__name__ == "Breakout"  # a user strategy is still found
    assert marker.exists()
    code = (
        "import json, sys\n"
        "from workstation.strategies.discovery import get\n"
        "get('sma_cross')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('plugins.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["plugins.strategies", "plugins.strategies.sma_cross"]


def test_a_named_entry_point_that_fails_to_load_is_disabled_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata as md

    real = md.entry_points

    def with_a_broken_one(**kwargs: Any) -> Any:
        found = list(real(**kwargs))
        if kwargs.get("group") == "qws.strategies":
            found.insert(0, md.EntryPoint("broken", "no_such_module_qws:X", "qws.strategies"))
        return found

    monkeypatch.setattr(md, "entry_points", with_a_broken_one)
    with pytest.raises(StrategyNotFound, match=r"disabled: ModuleNotFoundError"):
        get("broken")
    assert get("rsi_reversion").__module__ == "plugins.strategies.rsi_reversion"
