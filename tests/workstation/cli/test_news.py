"""``qws news`` and ``qws news fetch`` end to end: real feeds on 127.0.0.1, a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.feeds.news.server import ATOM, Feed, feed_server, fixture, static
from workstation.cli import main
from workstation.store import Store


async def qws(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "q.db"


async def test_fetch_stores_each_item_once_and_polls_politely_the_second_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Path
) -> None:
    routes = {
        "/energy": Feed(fixture("energy.rss")),
        "/markets": static(fixture("markets.atom"), content_type=ATOM),
    }
    with feed_server(routes) as srv:
        monkeypatch.setenv("QWS__NEWS__URLS", f'["{srv.url}/energy", "{srv.url}/markets"]')
        monkeypatch.setenv("QWS__APP__FEED", "binance")  # no demo news beside a real market
        code, out, _ = await qws(capsys, db, "news", "fetch")
        assert code == 0
        assert out.splitlines() == [
            f"{srv.url}/energy: 3 new, 0 seen before",
            f"{srv.url}/markets: 2 new, 0 seen before",
        ]
        code, out, _ = await qws(capsys, db, "news", "fetch")
        assert code == 0
        assert f"{srv.url}/energy: 0 new, 0 seen before (not modified since the last poll)" in out
        assert f"{srv.url}/markets: 0 new, 2 seen before\n" in out
        assert srv.hits("/energy")[1]["if-none-match"] == '"v1"'  # answered 304
    with Store(db) as store:
        assert store.news.count() == 5


async def test_news_lists_time_score_symbols_source_and_headline_newest_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Path
) -> None:
    with feed_server({"/energy": static(fixture("energy.rss"))}) as srv:
        code, _, _ = await qws(capsys, db, "news", "fetch", "--url", f"{srv.url}/energy")
        assert code == 0
    code, out, _ = await qws(capsys, db, "news")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].startswith("2025-03-03 12:00  ")
    assert lines[0].endswith("BRENT          Energy Desk: Brent climbs on strong Asian demand")
    assert lines[2].startswith("2025-03-03 09:30   -")  # "... as prices slump": negative
    assert "WTI,BRENT" in lines[2]
    score = float(lines[0].split()[2])
    assert score > 0 and lines[0].split()[2].startswith("+")
    code, out, _ = await qws(capsys, db, "news", "--symbol", "NATGAS")
    assert code == 0 and len(out.splitlines()) == 1 and "Henry Hub" in out
    code, out, _ = await qws(capsys, db, "news", "--limit", "1")
    assert out.splitlines() == lines[:1]
    code, out, _ = await qws(capsys, db, "news", "--symbol", "XAUUSD")
    assert (
        code == 0
        and out.strip() == "no news stored concerning XAUUSD (qws news fetch polls the sources)"
    )


async def test_a_failed_source_is_reported_and_only_all_failing_is_an_error_status(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    routes = {"/ok": static(fixture("energy.rss")), "/down": static(b"x", 500, "text/plain")}
    with feed_server(routes) as srv:
        ok, down = f"{srv.url}/ok", f"{srv.url}/down"
        code, out, err = await qws(capsys, db, "news", "fetch", "--url", ok, "--url", down)
        assert code == 0
        assert f"{down}: failed: HTTP 500 Internal Server Error from {down}" in out
        assert "1 of 2 source(s) failed" in out and "Traceback" not in out + err
        code, out, _ = await qws(capsys, db, "news", "fetch", "--url", down)
        assert code == 1 and "1 of 1 source(s) failed" in out
    with Store(db) as store:
        state = store.news.source(down)
        assert state is not None and (state.polls, state.failures) == (2, 2)


async def test_with_the_demo_feed_fetch_polls_the_demo_news(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    code, out, _ = await qws(capsys, db, "news", "fetch")
    [line] = out.splitlines()
    assert code == 0 and line.startswith("demo: ") and line.endswith(", 0 seen before")
    code, out, _ = await qws(capsys, db, "news", "--symbol", "WTI", "--limit", "500")
    lines = out.splitlines()
    assert code == 0 and lines and all("Demo Wire: " in ln and "WTI" in ln for ln in lines)


@pytest.mark.parametrize(
    "env,args,message",
    [
        ({"QWS__APP__FEED": "binance"}, (), "no news source to poll"),
        ({}, ("--url", "ftp://x.example/feed"), "--url must be an http:// or https:// URL"),
    ],
)
async def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Path,
    env: dict[str, str],
    args: tuple[str, ...],
    message: str,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, _, err = await qws(capsys, db, "news", "fetch", *args)
    assert code == 2 and message in err and "Traceback" not in err
