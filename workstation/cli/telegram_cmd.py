"""``qws keys set|status|delete SERVICE [NAME]``, ``qws telegram test|serve``, ``qws alerts``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from datetime import UTC, datetime

from workstation.cli.common import load_settings, open_store
from workstation.cli.run import add_feed_options


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="store secrets (bot tokens, API keys) in the OS keyring")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True, metavar="ACTION")
    for action, func, text in (
        ("set", _keys_set, "prompt for a secret (no echo) and store it"),
        ("status", _keys_status, "say where a secret is found (never prints it)"),
        ("delete", _keys_delete, "remove a secret from the keyring"),
    ):
        p = ksub.add_parser(action, help=text)
        p.add_argument("service", help="telegram, binance, bybit, ...")
        p.add_argument("name", nargs="?", default="token", help="token (default), api_key, ...")
        p.set_defaults(func=func)

    tg = sub.add_parser("telegram", help="Telegram relay: test the setup, or serve headless")
    tsub = tg.add_subparsers(dest="telegram_cmd", required=True, metavar="ACTION")
    test = tsub.add_parser("test", help="check the token and send a test message to each chat")
    test.add_argument("--chat", type=int, action="append", help="chat id (default: config)")
    test.set_defaults(func=_telegram_test)
    serve = tsub.add_parser(
        "serve",
        help="deliver queued alerts and answer commands until ^C (the runtime, no strategies)",
    )
    add_feed_options(serve)
    serve.add_argument("--broker", default=None, help="paper (default) or an installed broker")
    serve.add_argument("--no-signals", action="store_true", help="do not scan closed bars")
    serve.set_defaults(func=_telegram_serve)

    alerts = sub.add_parser("alerts", help="the alerts outbox: delivered, pending, failed")
    alerts.add_argument(
        "--failed", action="store_true", help="only failed and unknown-outcome alerts"
    )
    alerts.add_argument("--limit", type=int, default=50, help="the newest N rows (default 50)")
    alerts.add_argument(
        "--retry", type=int, metavar="ID", help="queue a failed/unknown alert again (may duplicate)"
    )
    alerts.set_defaults(func=_alerts)


# -- keys -------------------------------------------------------------------------------------
def _keys_set(args: argparse.Namespace) -> int:
    from workstation.cli import CliError
    from workstation.runtime.secrets import SecretsError, set_secret

    try:
        value = getpass.getpass(f"{args.service} {args.name} (input hidden): ")
    except EOFError:
        raise CliError(
            "no input: nothing stored (type the secret at the prompt, or pipe it in)"
        ) from None
    try:
        set_secret(args.service, args.name, value)
    except SecretsError as exc:
        raise CliError(str(exc)) from None
    print(f"stored the {args.service} {args.name} in the OS keyring")
    return 0


def _keys_status(args: argparse.Namespace) -> int:
    from workstation.runtime.secrets import env_name, secret_source

    source = secret_source(args.service, args.name)
    label = f"{args.service} {args.name}"
    if source == "missing":
        print(
            f"{label}: not set (qws keys set {args.service} {args.name},"
            f" or {env_name(args.service, args.name)})"
        )
        return 1
    print(f"{label}: found in the {source}")
    return 0


def _keys_delete(args: argparse.Namespace) -> int:
    from workstation.runtime.secrets import delete_secret

    deleted = delete_secret(args.service, args.name)
    print(f"{args.service} {args.name}: {'deleted' if deleted else 'was not in the keyring'}")
    return 0


# -- telegram ---------------------------------------------------------------------------------
def _token() -> str:
    from workstation.cli import CliError
    from workstation.runtime.secrets import env_name, get_secret

    token = get_secret("telegram", "token")
    if not token:
        raise CliError(
            "no Telegram bot token: run `qws keys set telegram` or set"
            f" {env_name('telegram', 'token')}"
        )
    return token


async def _diagnose(token: str, api_url: str, timeout: float, chats: list[int]) -> int:
    from plugins.notifiers.telegram import describe_error, make_bot
    from workstation.runtime.secrets import redact

    bot = make_bot(token, api_url, timeout)
    try:
        await bot.initialize()
    except Exception as exc:  # reported in plain words
        print(f"bot token: FAILED: {redact(describe_error(exc))}")
        return 1
    failures = 0
    try:
        print(f"bot token: OK (@{bot.username})")
        if not chats:
            print(
                "no chat ids configured: add `chat_ids = [YOUR_CHAT_ID]` under [telegram] in"
                " the config (qws config path), or pass --chat ID"
            )
            return 1
        for chat in chats:
            try:
                message = await bot.send_message(
                    chat,
                    "✅ <b>qws</b> test message: the relay can reach this chat.",
                    parse_mode="HTML",
                )
            except Exception as exc:
                failures += 1
                print(f"chat {chat}: FAILED: {redact(describe_error(exc))}")
            else:
                print(f"chat {chat}: OK (message {message.message_id})")
    finally:
        await bot.shutdown()
    return 1 if failures else 0


def _telegram_test(args: argparse.Namespace) -> int:
    settings = load_settings()
    chats = args.chat or [int(c) for c in settings.get("telegram.chat_ids", [])]
    return asyncio.run(
        _diagnose(
            _token(),
            str(settings.get("telegram.api_url")),
            float(settings.get("telegram.timeout_s", 10.0)),
            chats,
        )
    )


def _telegram_serve(args: argparse.Namespace) -> int:
    """The trading runtime without strategies: it relays alerts, answers commands and acts
    on /kill, /pause and (when enabled) trading commands (see ``qws trade``)."""
    from workstation.cli import CliError
    from workstation.cli.headless import run_headless

    settings = load_settings()
    if not settings.get("telegram.chat_ids"):
        raise CliError("no telegram.chat_ids configured: nobody to relay to or take commands from")
    _token()
    args.stay = True
    return run_headless(args, [], config_strategies=False)


# -- alerts -----------------------------------------------------------------------------------
def _alerts(args: argparse.Namespace) -> int:
    from workstation.cli import CliError
    from workstation.runtime.secrets import redact

    store = open_store(args)
    try:
        if args.retry is not None:
            if not store.alerts.requeue(args.retry):
                raise CliError(f"alert {args.retry} is not failed/unknown (or does not exist)")
            store.audit.add("cli", "alert_requeued", str(args.retry))
            print(f"alert {args.retry} queued again; it is sent on the relay's next pass")
            return 0
        statuses = ("failed", "unknown") if args.failed else None
        rows = store.alerts.find(status=statuses, limit=max(1, args.limit), newest_first=True)
        counts = store.alerts.counts()
        total = sum(counts.get(s, 0) for s in statuses) if statuses else sum(counts.values())
        if not rows:
            print("no failed alerts" if args.failed else "no alerts")
            return 0
        for row in rows:
            when = datetime.fromtimestamp(row["ts"] / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            line = (
                f"{row['id']:>6} {when} {row['status']:<8} x{row['attempts']:<2}"
                f" {row['channel']:<20} {row['title']}"
            )
            if row["message_id"]:
                line += f"  [message {row['message_id']}]"
            print(line)
            if row["last_error"] and row["status"] != "sent":
                print(f"{'':>7}{redact(row['last_error'])}")
        if total > len(rows):
            flag = " --failed" if args.failed else ""
            print(f"… and {total - len(rows)} more: qws alerts{flag} --limit N")
    finally:
        store.close()
    return 0
