"""``qws doctor``: the news sources group among the plugin groups, and the news endpoints with
how their last poll went."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.feeds.news.server import feed_server, fixture, static
from workstation.cli import main


def rows(out: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("│ ").split("│")] for line in out.splitlines() if "│" in line
    ]


async def test_doctor_lists_the_sources_group_and_each_endpoints_last_poll(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    db = tmp_path / "q.db"
    routes = {"/ok": static(fixture("energy.rss")), "/down": static(b"x", 503, "text/plain")}
    with feed_server(routes) as srv:
        never = f"{srv.url}/never?token=***"
        monkeypatch.setenv(
            "QWS__NEWS__URLS",
            f'["{srv.url}/ok", "{srv.url}/down", "{srv.url}/never?token=s3cr3t"]',
        )
        ok, down = f"{srv.url}/ok", f"{srv.url}/down"
        await asyncio.to_thread(
            main, ["--db", str(db), "news", "fetch", "--url", ok, "--url", down]
        )
        capsys.readouterr()
        await asyncio.to_thread(main, ["--db", str(db), "doctor"])
    out = capsys.readouterr().out
    table = rows(out)
    plugins = {(r[0], r[1]): r[-1] for r in table if len(r) == 4}
    assert plugins[("qws.sources", "rss")] == "ok" and plugins[("qws.sources", "demo")] == "ok"
    assert {g for g, _ in plugins} >= {"qws.feeds", "qws.brokers", "qws.notifiers", "qws.sources"}
    news = {r[1]: r for r in table if len(r) == 6}
    assert news[ok][0] == "rss" and news[ok][2:5] == ["1", "3", "0"]
    assert news[ok][5].startswith("ok ")
    assert news[down][2:5] == ["1", "0", "1"]
    assert (
        "failed" in news[down][5] and f"HTTP 503 Service Unavailable from {down}" in news[down][5]
    )
    assert news[never][2:] == ["0", "0", "0", "never polled"] and "s3cr3t" not in out
    assert news["demo"][0] == "demo"  # the demo feed's news (app.feed is demo)
