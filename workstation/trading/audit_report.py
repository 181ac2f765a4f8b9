"""The audit report (``qws audit``): each row of the audit log as what it records (an intent,
a decision, a risk refusal, an order change, a config change, or other) with a one-line
summary; and the changes of the effective settings, recorded into the log by
:func:`record_config` when the runtime starts.

The log keeps the actions as the order manager, the kill switch, Telegram and the settings
wrote them; the categories are read from them here, so a report over old rows follows any
change of this mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workstation.runtime.config import Settings, leaves
from workstation.runtime.secrets import redact
from workstation.trading.killswitch import KILL_SWITCH_KEY, RELAY_PAUSED_KEY, TRADING_PAUSED_KEY

if TYPE_CHECKING:
    from workstation.store import Store

INTENT, DECISION, REFUSAL, ORDER, CONFIG, OTHER = (
    "intent",
    "decision",
    "refusal",
    "order",
    "config",
    "other",
)
CATEGORIES = (INTENT, DECISION, REFUSAL, ORDER, CONFIG, OTHER)

CONFIG_CHANGED = "config.changed"
CONFIG_SNAPSHOT = "config.snapshot"
CONFIG_ACTIONS = (CONFIG_CHANGED, CONFIG_SNAPSHOT)

INTENT_ACTIONS = frozenset({"order.intent", "trade_requested", "kill_switch_requested"})
DECISION_SETTINGS = frozenset({KILL_SWITCH_KEY, TRADING_PAUSED_KEY, RELAY_PAUSED_KEY})
"""Settings whose change is a decision (the kill switch, pausing), not configuration."""
BOOKKEEPING_SETTINGS = frozenset({"relay.last_summary_day"})
"""Settings the program keeps for itself (``workstation.alerts.daily_summary``'s
``LAST_SUMMARY_KEY``: the day the summary went out), which nobody configured."""
ORDER_PREFIXES = ("order.", "bracket.", "algo.", "discrepancy.")
ORDER_ACTIONS = frozenset({"fill", "reconciled"})

SHOWN_CHANGES = 3
"""A ``config.changed`` summary names this many keys, then says how many more."""
VALUE_CHARS = 80
"""A value quoted in a summary is cut to this many characters (the CSV has it in full)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit-log row as the report shows it; ``detail`` is the JSON as stored."""

    id: int
    ts_ns: int
    actor: str
    action: str
    subject: str
    symbol: str
    category: str
    summary: str
    detail: str


def category(action: str, subject: str, detail: Mapping[str, Any]) -> str:
    """The category of a row: one of :data:`CATEGORIES`."""
    if action in INTENT_ACTIONS:
        return INTENT
    if action == "order.status":
        return REFUSAL if detail.get("to") == "REJECTED" else ORDER
    if action == "trade_unavailable":
        return REFUSAL
    if action == "setting":
        if subject in DECISION_SETTINGS:
            return DECISION
        return OTHER if subject in BOOKKEEPING_SETTINGS else CONFIG
    if action.startswith("config."):
        return CONFIG
    if _is_decision(action):
        return DECISION
    if action in ORDER_ACTIONS or action.startswith(ORDER_PREFIXES):
        return ORDER
    return OTHER


def _is_decision(action: str) -> bool:
    """The kill switch, a confirmation or its refusal (Telegram's ``buy_cancelled``, ...), a
    pause, a strategy started or stopped."""
    if action in ("kill_switch", "trade_confirmed"):
        return True
    if action.startswith(("strategy.", "strategy_", "pause", "resume")):
        return True
    if action.endswith((".confirmed", "_confirmed")):
        return True
    # "algo.cancelled" is an order's state; an undotted "<action>_cancelled" is a user's no
    return "." not in action and action.endswith("_cancelled")


def summary(action: str, subject: str, detail: Mapping[str, Any]) -> str:
    """A readable line for a row: "BUY 0.5 BTC/USDT market", "SUBMITTING -> FILLED",
    "refused: daily loss limit ...". Quantities and prices are quoted as stored."""
    if action == "order.intent":
        return _intent(detail)
    if action == "order.status":
        return _status(detail)
    if action == "fill":
        return f"filled {detail.get('qty')} @ {detail.get('price')}, fee {detail.get('fee')}"
    if action == "setting":
        return f"{subject} = {_value(detail.get('value'))}"
    if action == CONFIG_CHANGED:
        return _config_changes(detail.get("changed"))
    if action == CONFIG_SNAPSHOT:
        held = detail.get("settings")
        return f"settings first recorded: {len(held) if isinstance(held, dict) else 0} keys"
    if action == "kill_switch":
        reason = detail.get("reason")
        return f"kill switch {subject}" + (f" ({reason})" if reason else "")
    if action == "trade_unavailable":
        return f"refused: {subject} unavailable (no order manager connected)"
    if action == "trade_requested":
        asked = detail.get("text") or " ".join(map(str, detail.get("args") or ()))
        return f"asked {subject}" + (f": {_cut(str(asked))}" if asked else "")
    if action == "trade_confirmed":
        args = " ".join(map(str, detail.get("args") or ()))
        return f"confirmed {subject}" + (f" {args}" if args else "")
    if "." not in action and action.endswith("_cancelled"):
        return f"{action.removesuffix('_cancelled')} not confirmed (cancelled)"
    if action == "order.cancel_requested":
        return "cancel requested"
    if action == "order.unknown":
        return f"outcome unknown: {detail.get('error', '')}"
    if action == "order.reconciled":
        return f"reconciled: {detail.get('why', '')}"
    if action == "reconciled":
        return f"reconciled with {subject}: {detail.get('discrepancies', 0)} discrepancies"
    return _pairs(detail)


def _intent(d: Mapping[str, Any]) -> str:
    text = f"{str(d.get('side', '')).upper()} {d.get('qty')} {d.get('symbol')} {d.get('type')}"
    if d.get("price") is not None:
        text += f" @ {d['price']}"
    if d.get("stop") is not None:
        text += f" stop {d['stop']}"
    if d.get("tif") not in (None, "GTC"):
        text += f" {d['tif']}"
    for key in ("sl", "tp"):
        if d.get(key) is not None:
            text += f" {key} {d[key]}"
    for key in ("strategy", "parent"):
        if d.get(key):
            text += f" ({key} {d[key]})"
    return text


def _status(d: Mapping[str, Any]) -> str:
    reason = str(d.get("reason") or "")
    if d.get("to") == "REJECTED":
        # refused before it was sent (NEW) is the pre-trade check; after, the venue said no
        who = "refused" if d.get("from") == "NEW" else "refused by the venue"
        return f"{who}: {reason}" if reason else who
    text = f"{d.get('from')} -> {d.get('to')}"
    filled = d.get("filled_qty")
    if filled not in (None, "", "0"):
        avg = d.get("avg_price")
        text += f", filled {filled}" + (f" @ {avg}" if avg not in (None, "") else "")
    return text + (f" ({reason})" if reason else "")


def _config_changes(changed: Any) -> str:
    if not isinstance(changed, dict) or not changed:
        return "no change"
    parts = []
    for key, pair in list(changed.items())[:SHOWN_CHANGES]:
        old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        parts.append(f"{key}: {_value(old)} -> {_value(new)}")
    more = len(changed) - SHOWN_CHANGES
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _value(value: Any) -> str:
    """A setting's value as the config file writes it; None is a key not set."""
    return "(unset)" if value is None else _cut(json.dumps(value, ensure_ascii=False))


def _pairs(detail: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}={_cut(v if isinstance(v, str) else json.dumps(v, default=str))}"
        for k, v in detail.items()
    )


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def entry(row: Mapping[str, Any]) -> AuditEntry:
    """A row of :meth:`~workstation.store.audit.AuditRepository.between` as the report shows
    it; a detail that is not a JSON object is summarised as empty, and kept as it is."""
    raw = str(row.get("detail") or "{}")
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {}
    detail: Mapping[str, Any] = parsed if isinstance(parsed, dict) else {}
    action, subject = str(row["action"]), str(row.get("subject") or "")
    symbol = row.get("symbol") or detail.get("symbol") or ""
    return AuditEntry(
        id=int(row["id"]),
        ts_ns=int(row["ts"]),
        actor=str(row["actor"]),
        action=action,
        subject=subject,
        symbol=str(symbol),
        category=category(action, subject, detail),
        summary=summary(action, subject, detail),
        detail=raw,
    )


def audit_report(
    store: Store,
    since_ns: int,
    until_ns: int | None = None,
    categories: Iterable[str] | None = None,
    symbol: str | None = None,
) -> list[AuditEntry]:
    """The rows of ``[since_ns, until_ns)``, oldest first, of ``categories`` when given, and
    about ``symbol`` when given (its order's symbol, the symbol in its detail, or its
    subject: a comma-separated list of symbols counts; letter case aside)."""
    wanted = None if categories is None else frozenset(categories)
    unknown = sorted((wanted or frozenset()) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories: {', '.join(unknown)}")
    entries = (entry(r) for r in store.audit.between(since_ns, until_ns))
    out = []
    for e in entries:
        if wanted is not None and e.category not in wanted:
            continue
        if symbol is not None and not _about(e, symbol.upper()):
            continue
        out.append(e)
    return out


def _about(e: AuditEntry, symbol: str) -> bool:
    if e.symbol.upper() == symbol:
        return True
    return symbol in (s.strip().upper() for s in e.subject.split(","))


# -- config changes ----------------------------------------------------------------------------
def config_snapshot(settings: Settings) -> dict[str, Any]:
    """Every effective setting by dotted key, redacted, as JSON gives it back (the form it is
    stored and compared in)."""
    flat = {redact(k): _redacted(v) for k, v in sorted(leaves(settings.as_dict()).items())}
    loaded: dict[str, Any] = json.loads(json.dumps(flat, default=str))
    return loaded


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` for every key whose value differs (None: not set on that side),
    compared as JSON text: ``true`` is not ``1``."""

    def text(values: Mapping[str, Any], key: str) -> str:
        return json.dumps(values.get(key), sort_keys=True)

    return {
        key: [old.get(key), new.get(key)]
        for key in sorted(old.keys() | new.keys())
        if text(old, key) != text(new, key)
    }


def recorded_config(store: Store) -> dict[str, Any] | None:
    """The settings as the newest ``config.changed``/``config.snapshot`` row stored them, or
    None when none did (or its detail holds none)."""
    row = store.audit.latest(CONFIG_ACTIONS)
    if row is None:
        return None
    try:
        held = json.loads(str(row["detail"])).get("settings")
    except (ValueError, AttributeError):
        return None
    return held if isinstance(held, dict) else None


def record_config(store: Store, settings: Settings, actor: str) -> str | None:
    """Record the effective settings in the audit log when they changed since the last
    record: one ``config.changed`` row (its detail: ``changed`` = ``{key: [old, new]}``,
    ``sources`` = where each new value comes from, ``settings`` = the whole new snapshot the
    next call compares with), or ``config.snapshot`` with the full snapshot the first time.
    Returns the action added, None when nothing changed.

    The compare and the write are one transaction, so two processes starting together record
    a change once; an unchanged config takes no write lock."""
    snapshot = config_snapshot(settings)
    held = recorded_config(store)
    if held is not None and not config_changes(held, snapshot):
        return None
    subject = str(settings.path or "")
    with store.transaction():
        previous = recorded_config(store)
        if previous is None:
            store.audit.add(actor, CONFIG_SNAPSHOT, subject, {"settings": snapshot})
            return CONFIG_SNAPSHOT
        changed = config_changes(previous, snapshot)
        if not changed:
            return None
        detail = {
            "changed": changed,
            "sources": {key: settings.source(key) for key in changed},
            "settings": snapshot,
        }
        store.audit.add(actor, CONFIG_CHANGED, subject, detail)
    return CONFIG_CHANGED
