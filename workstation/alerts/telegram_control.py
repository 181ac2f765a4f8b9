"""Commanding the workstation from Telegram (python-telegram-bot ``Application``, long polling).

Security: only chats in ``telegram.chat_ids`` are served, and when ``telegram.user_ids`` is
set only those users in them (every command and every button press is checked; empty: any
member of an allowed chat, which in a group means everyone in it). An update from anyone
else gets no answer at all (a stranger cannot even learn the bot is alive); it is logged and
audited.
Read commands answer from the store. ``/pause`` and ``/resume`` flip the pause flags.
``/kill`` and the trading commands (off unless ``telegram.trading_commands``) only act after
a tap on an inline-keyboard confirmation that belongs to the same chat and expires after
``telegram.confirm_timeout_s``; every decision is audited.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as pysecrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from engine.commands import Command, CommandError, parse
from plugins.notifiers.telegram import describe_error, escape, format_price
from workstation.alerts import answers
from workstation.alerts.answers import PERIODS
from workstation.runtime.config import Settings
from workstation.runtime.secrets import protect, redact
from workstation.store import Store
from workstation.trading.killswitch import KillSwitch, is_paused, set_paused

log = logging.getLogger(__name__)

SECOND_NS = 1_000_000_000
TRADING_COMMANDS = ("buy", "sell", "close")
STRANGER_AUDITS = 5
HELP = """<b>qws commands</b>
/status: kill switch, pause, orders, outbox
/signals [N]: the last N signals (default 5)
/positions: open positions
/orders: working orders
/pnl [day|week|month]: equity change over the period
/balance: balances per venue
/watchlist: the watched symbols
/cycles SYMBOL: the dominant cycle
/pause, /resume: stop/start relaying and new strategy entries
/kill: engage the kill switch (asks to confirm)
/buy, /sell SYMBOL QTY [PRICE], /close SYMBOL: only if enabled (always confirmed)
Or say it: "what is my pnl", "price of gold", "buy $500 of btc", "sell half my eth",
"set stop on btc to 58000" (orders and stops are always confirmed)"""

OrderHandler = Callable[[str, str, Decimal | None, Decimal | None, str], Awaitable[str]]
OrderPreview = Callable[[str, str, Decimal | None, Decimal | None], str]
"""(action, symbol, qty, price) -> "" if the order would pass the pre-trade check, else why."""


TRADING_OFF = (
    "Trading commands are off. Set <code>telegram.trading_commands = true</code>"
    " in the config to enable them (each order still asks to confirm)."
)

DESK_INTENTS = ("order", "close", "flatten", "amend")
"""What free text may ask for that is confirmed with a button before it is done."""


class CommandDesk(Protocol):
    """The runtime as the bot's free text reaches it (see :class:`Runtime`)."""

    @property
    def symbols(self) -> Sequence[str]: ...

    def answer(self, command: Command) -> str: ...

    def proposal(self, command: Command) -> tuple[str, Command]: ...

    async def carry_out(self, command: Command, actor: str) -> str: ...


class ControlError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class PendingConfirmation:
    action: str  # "kill" or a trading command
    chat_id: int
    expires_ns: int
    args: tuple[str, ...] = ()
    command: Command | None = None
    """A command said in free text (carried out by the desk), instead of ``args``."""


def _ts(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%m-%d %H:%M")


# -- answers (pure functions of the store) -----------------------------------------------
def status_text(store: Store, kill: KillSwitch) -> str:
    counts = store.alerts.counts()
    orders = store.orders.find(open_only=True)
    positions = [p for p in store.positions.find() if p.qty != 0]
    last = store.signals.recent(limit=1)
    undelivered = [f"{counts[s]} {s}" for s in ("pending", "failed", "unknown") if counts.get(s)]
    lines = [
        "<b>qws status</b>",
        f"kill switch: <b>{'ENGAGED' if kill.engaged() else 'off'}</b>",
        f"paused: {'yes' if is_paused(store) else 'no'}",
        f"working orders: {len(orders)} · open positions: {len(positions)}",
        f"last signal: {escape(_ts(last[0].ts_ns) + ' ' + last[0].symbol) if last else 'none'}",
        f"alerts: {', '.join(undelivered) if undelivered else 'all delivered'}",
    ]
    return "\n".join(lines)


def signals_text(store: Store, n: int) -> str:
    rows = store.signals.recent(limit=n)
    if not rows:
        return "No signals yet."
    lines = [f"<b>Last {len(rows)} signals</b>"]
    for s in rows:
        lines.append(
            escape(
                f"{_ts(s.ts_ns)} {s.symbol} {s.timeframe} {s.action}"
                f" {s.evidence.text() if s.evidence else f'{s.confidence:.0%} (rule-made)'}"
                f" @ {format_price(s.price, None)}"
            )
        )
    return "\n".join(lines)


def html(text: str) -> str:
    """A plain answer (:mod:`workstation.alerts.answers`) as Telegram HTML: its title bold."""
    title, sep, rest = text.partition("\n")
    return f"<b>{escape(title)}</b>\n{escape(rest)}" if sep else escape(text)


def positions_text(store: Store) -> str:
    return html(answers.positions_text(store))


def orders_text(store: Store) -> str:
    return html(answers.orders_text(store))


def pnl_text(store: Store, period: str, now_ns: int) -> str:
    if period not in PERIODS:
        return "Usage: /pnl [day|week|month]"
    return html(answers.pnl_text(store, period, now_ns))


def balance_text(store: Store) -> str:
    return html(answers.balance_text(store))


def watchlist_text(store: Store, settings: Settings) -> str:
    symbols = store.watchlists.get() or list(settings.get("watchlist.default", []))
    return "<b>Watchlist</b>\n" + escape(", ".join(symbols)) if symbols else "Watchlist is empty."


def cycles_text(store: Store, settings: Settings, symbol: str) -> str:
    """Runs the quantum cycle detector on the symbol's stored bars (blocking: call it in a
    thread), plus the cycle last recorded with a signal."""
    if not symbol:
        return "Usage: /cycles SYMBOL"
    from engine.signals.cycles import CycleInputError, detect_cycles
    from workstation.store import AmbiguousVenueError

    lines = [f"<b>Cycles {escape(symbol)}</b>"]
    window = int(settings.get("cycles.window", 64))
    timeframe = str(settings.get("app.timeframe", "1m"))
    try:
        bars = store.candles.last(symbol, timeframe, window + 1)
    except AmbiguousVenueError as exc:
        bars = None
        lines.append(escape(str(exc)))
    if bars is not None and bars.height:
        try:
            report = detect_cycles(
                bars["close"].to_numpy(),
                window=window,
                backend=str(settings.get("cycles.backend", "statevector")),
                shots=int(settings.get("cycles.shots", 4096)),
            )
        except CycleInputError as exc:
            lines.append(escape(f"{timeframe}: {exc}"))
        else:
            for c in report.cycles:
                lines.append(
                    escape(
                        f"{timeframe}: period {c.period_bars:.1f} bars, strength {c.strength:.2f}"
                    )
                )
            if report.phase is not None:
                lines.append(
                    escape(
                        f"next trough in {report.phase.bars_to_trough:.1f} bars,"
                        f" next peak in {report.phase.bars_to_peak:.1f}"
                        f" ({report.backend}, {report.elapsed_ms:.0f} ms)"
                    )
                )
    elif bars is not None:
        lines.append(escape(f"no {timeframe} bars stored for {symbol}"))
    stored = [s for s in store.signals.recent(limit=50, symbol=symbol) if s.cycle is not None]
    if stored:
        last = stored[0].cycle
        assert last is not None
        lines.append(
            escape(
                f"last with a signal ({_ts(stored[0].ts_ns)}, {stored[0].timeframe}):"
                f" period {last.period_bars:.1f} bars, strength {last.strength:.2f}"
            )
        )
    return "\n".join(lines)


# -- the bot ------------------------------------------------------------------------------
class TelegramControl:
    """Long-polls the Bot API and answers allowlisted chats."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        token: str,
        kill_switch: KillSwitch | None = None,
        order_handler: OrderHandler | None = None,
        clock: Callable[[], int] = time.time_ns,
        order_preview: OrderPreview | None = None,
        on_pause: Callable[[bool, str], None] | None = None,
        desk: CommandDesk | None = None,
    ) -> None:
        """``order_handler`` places a confirmed trading command and ``order_preview`` answers
        the pre-trade check before the confirmation is asked (both from the runtime);
        ``on_pause`` hears /pause and /resume after the flags are stored; ``desk`` (the
        runtime) answers free text read by the command bar's parser."""
        self.store = store
        self.settings = settings
        self.kill = kill_switch or KillSwitch(store)
        self.order_handler = order_handler
        self.order_preview = order_preview
        self.on_pause = on_pause
        self.desk = desk
        self.clock = clock
        self.allowed = {int(c) for c in settings.get("telegram.chat_ids", [])}
        self.users = {int(u) for u in settings.get("telegram.user_ids", [])}
        self.ignored = 0
        self._audited_strangers: dict[int | None, int] = {}
        self._pending: dict[str, PendingConfirmation] = {}
        self._token = protect(token)
        self.app = self._build()

    def _build(self) -> Application:
        api = str(self.settings.get("telegram.api_url")).rstrip("/")
        timeout = float(self.settings.get("telegram.timeout_s", 10.0))
        poll = float(self.settings.get("telegram.poll_timeout_s", 20.0))
        app = (
            Application.builder()
            .token(self._token)
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .pool_timeout(timeout)
            .get_updates_connect_timeout(timeout)
            .get_updates_read_timeout(poll + timeout)
            .job_queue(None)
            .build()
        )
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        for name, handler in (
            ("start", self._help),
            ("help", self._help),
            ("status", self._status),
            ("signals", self._signals),
            ("positions", self._positions),
            ("orders", self._orders),
            ("pnl", self._pnl),
            ("balance", self._balance),
            ("watchlist", self._watchlist),
            ("cycles", self._cycles),
            ("pause", self._pause),
            ("resume", self._resume),
            ("kill", self._kill),
            *((cmd, self._trade) for cmd in TRADING_COMMANDS),
        ):
            app.add_handler(CommandHandler(name, handler))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._text))
        app.add_handler(CallbackQueryHandler(self._confirm))
        app.add_error_handler(self._on_error)
        return app

    async def start(self) -> None:
        poll = float(self.settings.get("telegram.poll_timeout_s", 20.0))
        try:
            await self.app.initialize()
        except TelegramError as exc:
            raise ControlError(redact(describe_error(exc))) from None
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            poll_interval=0.0,
            timeout=timedelta(seconds=poll),
            allowed_updates=["message", "callback_query"],
        )
        log.info("telegram control: polling for %d allowlisted chat(s)", len(self.allowed))

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    # -- gate and errors -------------------------------------------------------------------
    def _refusal(self, chat_id: int | None, user_id: int | None) -> str:
        """Why an update from this chat and user is not served ('' if it is). The user is the
        sender of a command or the one who pressed a button (``from.id``)."""
        if chat_id is None or chat_id not in self.allowed:
            return "not in telegram.chat_ids"
        if self.users and user_id not in self.users:
            return "not in telegram.user_ids"
        return ""

    async def _gate(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        user = update.effective_user if isinstance(update, Update) else None
        chat_id = chat.id if chat is not None else None
        why = self._refusal(chat_id, user.id if user is not None else None)
        if not why:
            return
        self.ignored += 1
        log.warning(
            "telegram: ignored an update from chat %s (user %s): %s",
            chat_id,
            user.id if user else None,
            why,
        )
        if self._audited_strangers.get(chat_id, 0) < STRANGER_AUDITS:
            # Audited a few times per chat and run, so a flood cannot bloat the audit log.
            self._audited_strangers[chat_id] = self._audited_strangers.get(chat_id, 0) + 1
            self.store.audit.add(
                "telegram", "ignored_update", str(chat_id), {"user": user.id if user else None}
            )
        raise ApplicationHandlerStop

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        text = describe_error(err) if err is not None else "unknown error"
        log.warning("telegram control: %s", redact(text))

    @staticmethod
    def _actor(update: Update) -> str:
        chat = update.effective_chat
        return f"telegram:{chat.id if chat else '?'}"

    async def _reply(
        self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        message = update.effective_message
        assert message is not None
        await message.reply_html(redact(text), reply_markup=markup, do_quote=False)

    # -- read commands ---------------------------------------------------------------------
    async def _help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, HELP)

    async def _status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, status_text(self.store, self.kill))

    async def _signals(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        try:
            n = int(args[0]) if args else 5
        except ValueError:
            await self._reply(update, "Usage: /signals [N]")
            return
        await self._reply(update, signals_text(self.store, max(1, min(n, 30))))

    async def _positions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, positions_text(self.store))

    async def _orders(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, orders_text(self.store))

    async def _pnl(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        period = (context.args or ["day"])[0].lower()
        await self._reply(update, pnl_text(self.store, period, self.clock()))

    async def _balance(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, balance_text(self.store))

    async def _watchlist(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, watchlist_text(self.store, self.settings))

    async def _cycles(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        symbol = (context.args or [""])[0].upper()
        text = await asyncio.to_thread(cycles_text, self.store, self.settings, symbol)
        await self._reply(update, text)

    # -- control ---------------------------------------------------------------------------
    async def _pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        set_paused(self.store, True, self._actor(update))
        if self.on_pause is not None:
            self.on_pause(True, self._actor(update))
        await self._reply(update, "Paused: no relaying of non-critical alerts, no new entries.")

    async def _resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        set_paused(self.store, False, self._actor(update))
        if self.on_pause is not None:
            self.on_pause(False, self._actor(update))
        await self._reply(update, "Resumed.")

    def _ask(
        self, action: str, chat_id: int, args: tuple[str, ...], command: Command | None = None
    ) -> InlineKeyboardMarkup:
        nonce = pysecrets.token_hex(6)
        ttl = float(self.settings.get("telegram.confirm_timeout_s", 120.0))
        self._pending[nonce] = PendingConfirmation(
            action, chat_id, self.clock() + int(ttl * SECOND_NS), args, command
        )
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Confirm", callback_data=f"ok:{nonce}"),
                    InlineKeyboardButton("Cancel", callback_data=f"no:{nonce}"),
                ]
            ]
        )

    async def _kill(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        assert chat is not None
        self.store.audit.add(self._actor(update), "kill_switch_requested")
        markup = self._ask("kill", chat.id, ())
        if self.settings.get("risk.kill_flattens", False):
            effect = "working orders are cancelled and every open position is closed at market."
        else:
            effect = (
                "working entry orders are cancelled; the stop-loss and take-profit orders of"
                " open positions keep working (positions stay open)."
            )
        await self._reply(
            update, f"<b>Engage the kill switch?</b>\nNew orders are refused, {effect}", markup
        )

    async def _trade(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        chat = update.effective_chat
        assert message is not None and chat is not None and message.text
        command = message.text.split()[0].lstrip("/").split("@")[0].lower()
        if not self.settings.get("telegram.trading_commands", False):
            await self._reply(update, TRADING_OFF)
            return
        args = tuple(context.args or ())
        problem = _check_trade_args(command, args)
        if problem:
            await self._reply(update, escape(problem))
            return
        self.store.audit.add(self._actor(update), "trade_requested", command, {"args": list(args)})
        if self.order_preview is not None and command != "close":
            qty = Decimal(args[1])
            price = Decimal(args[2]) if len(args) > 2 else None
            refusal = self.order_preview(command, args[0].upper(), qty, price)
            if refusal:
                await self._reply(update, f"Refused: {escape(refusal)}")
                return
        markup = self._ask(command, chat.id, args)
        await self._reply(update, f"<b>Confirm</b> /{command} {escape(' '.join(args))}?", markup)

    async def _text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text, read as the command bar reads it: a question is answered, a trading
        command asks to confirm (with what was understood), anything else gets the parser's
        message."""
        message = update.effective_message
        chat = update.effective_chat
        assert message is not None and chat is not None
        aliases = dict(self.settings.get("commands.aliases", {}) or {})
        symbols = list(self.desk.symbols) if self.desk is not None else None
        try:
            command = parse(message.text or "", symbols, aliases=aliases)
        except CommandError as exc:
            await self._reply(update, escape(str(exc)))
            return
        if command.intent == "kill" and command.entities.get("on"):
            await self._kill(update, context)
            return
        if command.intent not in ("query", *DESK_INTENTS):
            await self._reply(
                update,
                escape(
                    f"'{command.intent}' is a command of the screen. Here: orders (buy 0.1 btc),"
                    " close, moving a stop (set stop on btc to 58000) and questions (what is my"
                    " pnl, show positions, price of gold); /help lists the rest."
                ),
            )
            return
        if self.desk is None:
            await self._reply(update, "Not available: no trading runtime is connected.")
            return
        if command.intent == "query":
            try:
                answer = self.desk.answer(command)
            except Exception as exc:  # a refusal, said as such
                await self._reply(update, escape(str(exc)))
                return
            await self._reply(update, html(answer))
            return
        if not self.settings.get("telegram.trading_commands", False):
            await self._reply(update, TRADING_OFF)
            return
        try:
            what, carried = self.desk.proposal(command)
        except Exception as exc:
            await self._reply(update, f"Refused: {escape(str(exc))}")
            return
        self.store.audit.add(
            self._actor(update), "trade_requested", command.intent, {"text": message.text}
        )
        markup = self._ask(command.intent, chat.id, (), carried)
        first, _, sums = what.partition("\n")
        echo = _understood(command)
        text = f"<b>Confirm</b> {escape(first)}?" + (f"\n{escape(sums)}" if sums else "")
        await self._reply(update, text + (f"\n<i>{escape(echo)}</i>" if echo else ""), markup)

    async def _confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        assert query is not None and chat is not None
        verdict, _, nonce = (query.data or "").partition(":")
        pending = self._pending.get(nonce)
        actor = self._actor(update)
        if pending is None or pending.chat_id != chat.id or pending.expires_ns < self.clock():
            if pending is not None and pending.chat_id == chat.id:
                del self._pending[nonce]
            await query.answer("This confirmation has expired.")
            await query.edit_message_text("Expired: nothing was done.")
            return
        del self._pending[nonce]
        if verdict != "ok":
            self.store.audit.add(actor, f"{pending.action}_cancelled")
            await query.answer("Cancelled.")
            await query.edit_message_text("Cancelled: nothing was done.")
            return
        if pending.action == "kill":
            await self.kill.engage(actor, "confirmed from Telegram")
            await query.answer("Kill switch engaged.")
            await query.edit_message_text("🛑 Kill switch ENGAGED.")
            return
        await query.answer("Sending…")
        result = await self._place(pending, actor)
        await query.edit_message_text(redact(result))

    async def _place(self, pending: PendingConfirmation, actor: str) -> str:
        if pending.command is not None:
            return await self._carry_out(pending.command, actor)
        if self.kill.engaged():
            return "Refused: the kill switch is engaged."
        if self.order_handler is None:
            self.store.audit.add(actor, "trade_unavailable", pending.action)
            return "Order entry is not available (no order manager connected)."
        symbol = pending.args[0].upper()
        qty = Decimal(pending.args[1]) if len(pending.args) > 1 else None
        price = Decimal(pending.args[2]) if len(pending.args) > 2 else None
        self.store.audit.add(actor, "trade_confirmed", pending.action, {"args": list(pending.args)})
        try:
            return await self.order_handler(pending.action, symbol, qty, price, actor)
        except Exception as exc:  # reported to the user, not raised
            log.exception("order handler failed")
            return f"Order failed: {exc}"

    async def _carry_out(self, command: Command, actor: str) -> str:
        if command.intent == "order" and self.kill.engaged():
            return "Refused: the kill switch is engaged."
        if self.desk is None:
            return "Not available: no trading runtime is connected."
        self.store.audit.add(actor, "trade_confirmed", command.intent)
        try:
            return await self.desk.carry_out(command, actor)
        except Exception as exc:  # reported to the user, not raised
            log.warning("telegram command %s failed: %s", command.intent, exc)
            return f"Refused: {exc}"


def _understood(command: Command) -> str:
    understood = command.entities.get("understood")
    corrections = list(command.entities.get("corrections") or [])
    if not understood:
        return ""
    return f"understood: {understood}" + (f" ({', '.join(corrections)})" if corrections else "")


def _check_trade_args(command: str, args: tuple[str, ...]) -> str:
    if command == "close":
        return "" if len(args) == 1 else "Usage: /close SYMBOL"
    if len(args) not in (2, 3):
        return f"Usage: /{command} SYMBOL QTY [PRICE]"
    try:
        numbers = [Decimal(a) for a in args[1:]]
    except InvalidOperation:
        return "QTY and PRICE must be numbers."
    if any(not n.is_finite() or n <= 0 for n in numbers):
        return "QTY and PRICE must be positive."
    return ""
