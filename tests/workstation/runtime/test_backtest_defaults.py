"""The one set of backtest defaults: ``[backtest]`` in the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.runtime.config import BacktestDefaults, ConfigError, Settings


def test_the_defaults_and_the_lot_they_resolve_to() -> None:
    defaults = BacktestDefaults.of(Settings.load(environ={}))
    assert defaults == BacktestDefaults(cash=10_000.0, commission=0.0, lot=0.0)
    assert defaults.lot_for(0.0001) == 0.0001
    assert defaults.lot_for(None) == 1.0
    assert BacktestDefaults(10_000.0, 0.0, 0.25).lot_for(0.0001) == 0.25


def test_the_config_file_sets_them_and_bad_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[backtest]\ncash = 50000\nlot = 0.01\ncommission = 0.0005\n")
    assert BacktestDefaults.of(Settings.load(path, environ={})) == BacktestDefaults(
        50_000.0, 0.0005, 0.01
    )
    with pytest.raises(ConfigError, match=r"backtest\.cash must be positive"):
        BacktestDefaults.of(Settings.load(path, environ={"QWS__BACKTEST__CASH": "0"}))
    with pytest.raises(ConfigError, match=r"backtest\.cash must be a number"):
        Settings.load(path, environ={"QWS__BACKTEST__CASH": "lots"})
