"""``qws bridge mt5 --listen 127.0.0.1:8765``: serve a MetaTrader 5 terminal over a websocket.

Run it on the Windows machine (or Wine prefix) where the terminal runs, then on any machine:
``qws run --feed bridge --url ws://HOST:8765``. The token both sides share is a secret:
keyring entry ``qws:bridge`` / ``token`` or ``QWS_BRIDGE_TOKEN``; ``--new-token`` makes one.
The MT5 account comes from ``brokers.mt5.login/server/path`` and the password from keyring
``qws:mt5`` / ``password`` (or ``QWS_MT5_PASSWORD``); with no login configured the terminal's
logged-in account is used. Protocol: docs/bridge.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets as token_source
import sys
from typing import TYPE_CHECKING

from workstation.cli.common import load_settings

if TYPE_CHECKING:
    from feeds.mt5.bridge_server import BridgeServer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bridge", help="serve MetaTrader 5 data to other machines (websocket)")
    bsub = p.add_subparsers(dest="bridge_source", required=True, metavar="SOURCE")
    mt5 = bsub.add_parser("mt5", help="serve the MetaTrader 5 terminal running on this machine")
    mt5.add_argument("--listen", default=None, help="HOST:PORT (default: bridge.listen setting)")
    mt5.add_argument(
        "--token-from-keyring",
        action="store_true",
        help="read the token from the keyring (qws:bridge/token); the default also falls back"
        " to QWS_BRIDGE_TOKEN",
    )
    mt5.add_argument(
        "--new-token", action="store_true", help="generate a token, store it, print it once"
    )
    mt5.set_defaults(func=_bridge_mt5)


def parse_listen(text: str) -> tuple[str, int]:
    from workstation.cli import CliError

    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise CliError(f"--listen wants HOST:PORT, e.g. 127.0.0.1:8765, not {text!r}")
    return host.strip("[]"), int(port)


def resolve_token(from_keyring_only: bool) -> str:
    from workstation.cli import CliError
    from workstation.runtime.secrets import env_name, get_secret

    if from_keyring_only:
        try:
            import keyring

            token = keyring.get_password("qws:bridge", "token")
        except Exception as exc:
            raise CliError(f"cannot read the keyring: {exc}") from None
    else:
        token = get_secret("bridge", "token")
    if not token:
        where = (
            "the keyring" if from_keyring_only else f"the keyring or {env_name('bridge', 'token')}"
        )
        raise CliError(
            f"the bridge needs a token and none is in {where}:"
            " run `qws bridge mt5 --new-token` once, or `keyring set qws:bridge token`"
        )
    return token


def new_token() -> str:
    token = token_source.token_urlsafe(32)
    try:
        import keyring

        keyring.set_password("qws:bridge", "token", token)
        print("stored in the keyring as qws:bridge/token; give the clients the same token:")
    except Exception:
        print("no keyring here: set QWS_BRIDGE_TOKEN to this on the server and the clients:")
    print(token)
    return token


def make_server(args: argparse.Namespace) -> BridgeServer:
    """The MT5 feed and the bridge server around it, not started."""
    from feeds.mt5.bridge_server import BridgeServer
    from feeds.mt5.terminal import Mt5Feed
    from workstation.runtime.secrets import get_secret

    settings = load_settings()
    host, port = parse_listen(args.listen or settings.get("bridge.listen", "127.0.0.1:8765"))
    token = new_token() if args.new_token else resolve_token(args.token_from_keyring)
    mt5 = settings.section("brokers.mt5")
    feed = Mt5Feed(
        login=mt5.get("login") or None,
        password=get_secret("mt5", "password"),
        server=mt5.get("server") or None,
        path=mt5.get("path") or None,
        **{k: v for k, v in settings.section("feeds.mt5").items() if k not in ("password",)},
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {host}: anyone who reaches this port with the token can read"
            " this terminal's data; prefer an SSH tunnel or a TLS proxy (wss://)",
            file=sys.stderr,
        )
    return BridgeServer(feed, token, host, port)


def _bridge_mt5(args: argparse.Namespace) -> int:
    from feeds.errors import FeedError
    from workstation.cli import CliError

    async def run() -> None:
        server = make_server(args)
        try:
            await server.start()
            print(f"qws bridge: serving MetaTrader 5 on {server.url}", flush=True)
            await server.serve_forever()
        finally:
            await server.close()
            await server.feed.close()

    try:
        asyncio.run(run())
    except FeedError as exc:
        raise CliError(str(exc)) from None
    return 0
