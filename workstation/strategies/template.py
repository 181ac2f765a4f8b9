"""The package ``qws strategies new NAME`` writes: pyproject with the entry point, the strategy
module and a test that passes as generated."""

from __future__ import annotations

from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "qws-strategy-{dash}"
version = "0.1.0"
description = "{cls}: a qws strategy"
requires-python = ">=3.11"
# qws itself is the host application: install this package into the environment qws runs in.
dependencies = []

[project.entry-points."qws.strategies"]
{name} = "{module}.strategy:{cls}"

[tool.setuptools]
packages = ["{module}"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
"""

STRATEGY = '''\
"""{cls}: follow the trend above an EMA, with a stop-loss a few ATRs away.

Edit freely: this is a complete, working strategy to start from. See docs/strategies.md in qws.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from engine.strategy import Context, Param, Params, Strategy, crossed_above


class {cls}(Strategy):
    name = "{name}"
    description = "EMA trend follower with an ATR stop-loss"
    timeframe = "1h"
    params = Params(
        ema=Param(50, low=10, high=200, step=10, doc="trend EMA length (bars)"),
        atr_stop=Param(2.0, low=0.5, high=5.0, step=0.5, doc="stop distance in ATR(14)"),
        size=Param(0.5, low=0.05, high=0.99, doc="fraction of available margin per trade"),
    )

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return max(self.params["ema"], 14) + 1

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        close = bars["close"].to_numpy()
        ema = ctx.indicators.ema(self.params["ema"])
        if not ctx.position and crossed_above(close, ema):
            stop = ctx.price - self.params["atr_stop"] * ctx.indicators.atr(14)[-1]
            ctx.buy(size=self.params["size"], sl=stop)
        elif ctx.position.is_long and crossed_above(ema, close):
            ctx.close()
'''

TEST = """\
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.strategy import ParamError
from {module}.strategy import {cls}


def _bars(n: int = 3_000, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    return pl.DataFrame(
        {{
            "ts": np.arange(n, dtype=np.int64) * 3_600_000_000_000,
            "open": open_,
            "high": np.maximum(open_, close) * 1.003,
            "low": np.minimum(open_, close) * 0.997,
            "close": close,
            "volume": np.ones(n),
        }}
    )


def test_it_trades_only_after_warmup() -> None:
    strategy = {cls}()
    result = run_backtest(strategy, _bars(), BacktestConfig(cash=100_000, commission=0.001))
    assert result.stats["trades"] > 5
    assert result.trades["entry_bar"].min() > strategy.warmup
    assert np.all(result.equity[: strategy.warmup] == 100_000)


def test_every_trade_is_long_with_a_stop_below_entry() -> None:
    result = run_backtest({cls}(), _bars(seed=2), BacktestConfig(cash=100_000))
    trades = result.trades
    assert (trades["size"] > 0).all()
    assert all(math.isfinite(s) and s < e for s, e in zip(trades["sl"], trades["entry_price"]))
    # a stop exit never fills above the stop (no gaps in these bars)
    stopped = trades.filter(pl.col("exit_price") <= pl.col("sl"))
    assert (stopped["exit_price"] >= stopped["sl"] * (1 - 1e-9)).all()


def test_params_are_checked() -> None:
    assert {cls}(ema="20").params["ema"] == 20
    with pytest.raises(ParamError):
        {cls}(ema=1)
"""

README = """\
# qws-strategy-{dash}

A [qws](https://example.invalid/qws) strategy plugin.

    pip install -e .          # into the environment qws runs in
    qws strategies list       # shows "{name}"
    qws backtest --symbol BTC/USDT --timeframe 1h --strategy {name} --param ema=30
    python -m pytest          # the strategy's tests
"""


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part) or "MyStrategy"


def write_package(name: str, parent: Path) -> Path:
    """Write the package for strategy ``name`` under ``parent``; returns its root folder."""
    dash = name.replace("_", "-")
    module = f"qws_strategy_{name}"
    cls = class_name(name)
    root = parent / f"qws-strategy-{dash}"
    if root.exists():
        raise FileExistsError(f"{root} already exists; pick another name or remove it")
    fields = {"name": name, "dash": dash, "module": module, "cls": cls}
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        root / module / "__init__.py": '"""{cls} strategy for qws."""\n',
        root / module / "strategy.py": STRATEGY,
        root / "tests" / f"test_{name}.py": TEST,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**fields), encoding="utf-8")
    return root
