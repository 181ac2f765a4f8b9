"""``qws serve``: the workstation in a browser (one ``qws run`` process per browser session)."""

from __future__ import annotations

import argparse
import shlex
import socket
import sys

from workstation.cli import CliError
from workstation.cli.common import db_path, load_settings, open_store
from workstation.cli.run import add_feed_options, feed_from_args

FEED_OPTIONS = ("feed", "symbols", "timeframe", "file", "symbol", "speed", "url")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the workstation to a browser (token-protected, 127.0.0.1 by default)",
        description="Serve the workstation to a web browser with textual-serve. Each browser"
        " session runs its own workstation process on the same database and settings. The URL"
        " to open, with a fresh random token, is printed at start; requests without the token"
        " get 401.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (use TLS: --certfile/--keyfile)",
    )
    p.add_argument("--certfile", default=None, help="TLS certificate (PEM) to serve https")
    p.add_argument("--keyfile", default=None, help="its private key, if not in the certfile")
    p.add_argument(
        "--max-sessions", type=int, default=4, help="browser sessions at once (default 4)"
    )
    p.add_argument(
        "--keep-token",
        action="store_true",
        help="use the token kept in the keyring (qws:serve/token, or QWS_SERVE_TOKEN), made and"
        " stored on first use, so a bookmarked URL works at every start; browsers stay let in"
        " for 30 days",
    )
    p.add_argument(
        "--new-token",
        action="store_true",
        help="with --keep-token: replace the kept token (every bookmark and browser is shut out)",
    )
    add_feed_options(p)
    p.set_defaults(func=cmd_serve)


def session_command(args: argparse.Namespace) -> str:
    """The shell command each browser session runs: ``qws run`` with this server's database
    and feed options, by this Python (so the venv's qws, whatever PATH says)."""
    words = [sys.executable, "-m", "workstation.cli", "--db", str(db_path(args).resolve()), "run"]
    for name in FEED_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            words += [f"--{name}", str(value)]
    return shlex.join(words)


def serve_token(keep: bool, rotate: bool) -> tuple[str, bool]:
    """The token to serve with, and whether to print it: a fresh one per start by default;
    with ``keep`` the one in the keyring (or ``QWS_SERVE_TOKEN``), not printed again, or a new
    one stored there (``rotate``, or none kept yet) and printed once."""
    from workstation.runtime.secrets import env_name, get_secret, keyring_service
    from workstation.web.server import new_token

    if rotate and not keep:
        raise CliError("--new-token replaces the kept token: it goes with --keep-token")
    if not keep:
        return new_token(), True
    if not rotate:
        kept = get_secret("serve", "token")
        if kept:
            return kept, False
    token = new_token()
    try:
        import keyring

        if float(getattr(keyring.get_keyring(), "priority", 0)) <= 0:
            raise RuntimeError("no OS keyring is available here")
        keyring.set_password(keyring_service("serve"), "token", token)
    except Exception as exc:
        raise CliError(
            f"cannot keep the token: {exc}; set {env_name('serve', 'token')} to a long random"
            " string instead"
        ) from None
    print(
        "stored in the keyring as qws:serve/token: the URL below works at every start with"
        " --keep-token (--new-token replaces it)",
        flush=True,
    )
    return token, True


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def cmd_serve(args: argparse.Namespace) -> int:
    from workstation.web.server import ServeError, WorkstationServer, is_loopback, tls_context

    if not is_loopback(args.host) and not args.allow_remote:
        raise CliError(
            f"--host {args.host} is reachable from other machines: add --allow-remote to mean"
            " it (and --certfile/--keyfile for TLS)"
        )
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: a port is 0..65535")
    settings = load_settings()
    feed_from_args(args, settings)  # a bad feed option fails here, not in every session
    open_store(args).close()  # likewise a database that cannot be opened
    token, shown = serve_token(args.keep_token, args.new_token)
    try:
        context = tls_context(args.certfile, args.keyfile)
        port = args.port or free_port(args.host)
        server = WorkstationServer(
            session_command(args),
            host=args.host,
            port=port,
            token=token,
            show_token=shown,
            persistent=args.keep_token,
            max_sessions=args.max_sessions,
            ssl_context=context,
            announce=lambda line: print(line, flush=True),
        )
        server.serve()
    except ServeError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    return 0
