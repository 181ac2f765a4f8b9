"""The settings screen: feed, theme, quality gate, risk limits, and secrets.

Plain settings are saved through the :class:`Preferences` the screen is given (the store's
settings table, audited) and override the config file for this database. API keys and bot
tokens go to the OS keyring through :mod:`workstation.runtime.secrets` from password inputs;
they are never shown again, only whether one is set (and where).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from workstation.runtime.secrets import SecretsError, set_secret
from workstation.ui.screens.services import Preferences

PLAIN: tuple[tuple[str, str, type], ...] = (
    ("app.feed", "Feed (on restart)", str),
    ("app.timeframe", "Default timeframe", str),
    ("signals.quality_gate", "Quality gate (0..1)", float),
    ("risk.max_order_notional", "Max order notional", float),
    ("risk.max_position_notional", "Max position notional", float),
    ("risk.max_total_exposure", "Max total exposure", float),
    ("risk.daily_loss_limit", "Daily loss limit", float),
)
SECRETS: tuple[tuple[str, str, str], ...] = (
    ("binance", "api_key", "Binance API key"),
    ("binance", "secret", "Binance API secret"),
    ("bybit", "api_key", "Bybit API key"),
    ("bybit", "secret", "Bybit API secret"),
    ("telegram", "token", "Telegram bot token"),
)


def secret_state(service: str, name: str) -> str:
    """'keyring', 'environment' or 'missing'; the value itself is never read out to the screen."""
    from workstation.runtime.secrets import secret_source

    return secret_source(service, name)


def parse_value(raw: str, kind: type) -> Any:
    raw = raw.strip()
    if kind is float:
        value = float(raw.replace(",", ""))
        if value != value or value < 0:
            raise ValueError("must be a non-negative number")
        return value
    if not raw:
        raise ValueError("must not be empty")
    return raw


class SettingsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="settings.close"),
        Binding("ctrl+s", "save", "Save", id="settings.save"),
    ]

    def __init__(self, preferences: Preferences) -> None:
        super().__init__()
        self.preferences = preferences

    def compose(self) -> ComposeResult:
        prefs = self.preferences
        with VerticalScroll(id="settings-body"):
            yield Static("[b]Settings[/b] — saved to this workstation's database", id="settings-h")
            with Grid(classes="settings-grid"):
                yield Label("Theme")
                themes = sorted(self.app.available_themes)
                yield Select([(t, t) for t in themes], value=self.app.theme, allow_blank=False,
                             compact=True, id="theme")  # fmt: skip
                for key, label, _ in PLAIN:
                    yield Label(label)
                    yield Input(str(prefs.get(key, "")), compact=True, id=_id(key))
                yield Label("Live trading")
                live = "on" if prefs.get("trading.live", False) else "off (paper)"
                yield Static(f"{live} — change trading.live in the config file", id="live")
            yield Static("[b]Secrets[/b] — stored in the OS keyring, never shown", id="secrets-h")
            with Grid(classes="settings-grid secrets"):
                for service, name, label in SECRETS:
                    yield Label(label)
                    with Horizontal(classes="secret-row"):
                        yield Input(
                            password=True,
                            placeholder="paste to set",
                            compact=True,
                            id=f"{service}-{name}",
                        )
                        yield Static(_state(service, name), id=f"{service}-{name}-state",
                                     classes="secret-state")  # fmt: skip
            yield Static("", id="settings-msg")
            with Horizontal(id="settings-buttons"):
                yield Button("Save", variant="primary", compact=True, id="save")
                yield Button("Back", compact=True, id="back")
        yield Footer()

    def action_save(self) -> None:
        errors, saved = [], []
        for key, label, kind in PLAIN:
            raw = self.query_one(f"#{_id(key)}", Input).value
            try:
                value = parse_value(raw, kind)
            except ValueError as exc:
                errors.append(f"{label}: {exc}")
                continue
            if value != self.preferences.get(key, None):
                self.preferences.save(key, value)
                saved.append(key)
        theme = self.query_one("#theme", Select).value
        if isinstance(theme, str) and theme != self.app.theme:
            self.app.theme = theme
            self.preferences.save("app.theme", theme)
            saved.append("app.theme")
        for service, name, label in SECRETS:
            box = self.query_one(f"#{service}-{name}", Input)
            if not box.value:
                continue
            try:
                set_secret(service, name, box.value)
                saved.append(f"{label} (keyring)")
            except SecretsError as exc:
                errors.append(f"{label}: {exc}")
            box.value = ""
            self.query_one(f"#{service}-{name}-state", Static).update(_state(service, name))
        message = ("saved: " + ", ".join(saved)) if saved else "nothing changed"
        if errors:
            message = "[red]" + "; ".join(errors) + "[/red] · " + message
        self.query_one("#settings-msg", Static).update(message)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_close()


def _id(key: str) -> str:
    return "set-" + key.replace(".", "-").replace("_", "-")


def _state(service: str, name: str) -> str:
    source = secret_state(service, name)
    if source == "missing":
        return "[dim]not set[/]"
    return "[green]set[/]" if source == "keyring" else "[green]set (env)[/]"
