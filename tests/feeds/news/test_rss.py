"""The RSS/Atom source against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from engine.protocols import Source, SourceError
from feeds.news.rss import RssSource, plain_text, safe_url
from tests.feeds.news.server import ATOM, Feed, feed_server, fixture, stalled, static


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


async def test_rss_items_carry_id_time_text_link_source_and_tags() -> None:
    with feed_server({"/energy": static(fixture("energy.rss"))}) as srv:
        source = RssSource(f"{srv.url}/energy", clock=lambda: 42)
        try:
            assert isinstance(source, Source) and source.name == "rss"
            items = await source.fetch()
        finally:
            await source.close()
    assert [i.id for i in items] == [
        "energy-desk-1001",
        "energy-desk-1002",
        "https://energy.example/2025/03/03/brent-asia",  # no guid: its link
    ]
    first, gas, brent = items
    assert first.key == f"{srv.url}/energy"
    assert first.headline == "OPEC+ agrees deeper output cuts as prices slump"
    assert first.summary == "Producers extend curbs into the second quarter, Saudi Arabia says."
    assert first.link == "https://energy.example/2025/03/03/opec-cuts"
    assert first.source == "Energy Desk" and first.symbols == ("Crude Oil",)
    assert first.ts_ns == ns("2025-03-03T09:30:00")
    assert gas.ts_ns == ns("2025-03-03T10:05:00")  # +0100 read as UTC
    assert gas.summary == "Forecasts point to above-normal temperatures & weak demand."
    assert gas.symbols == ("NATGAS",) and brent.symbols == ()
    assert all(i.score is None for i in items)


async def test_atom_entries_use_published_then_updated_and_the_feed_title() -> None:
    with feed_server({"/atom": static(fixture("markets.atom"), content_type=ATOM)}) as srv:
        source = RssSource(f"{srv.url}/atom")
        items = await source.fetch()
        await source.close()
    btc, gold = items
    assert btc.id == "tag:markets.example,2025:btc-etf" and btc.source == "Markets Wire"
    assert btc.ts_ns == ns("2025-03-03T13:00:00")  # only <updated>
    assert gold.ts_ns == ns("2025-03-03T13:30:00")  # <published> before <updated>
    assert btc.summary == "Spot funds add billions in a week." and btc.link.endswith("/btc-etf")
    assert gold.symbols == ("XAUUSD",)


async def test_an_item_without_a_date_is_stamped_when_first_seen_and_without_id_hashed() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bare</title>'
        b"<item><title>Oil steady ahead of OPEC+ meeting</title></item></channel></rss>"
    )
    with feed_server({"/bare": static(body)}) as srv:
        source = RssSource(f"{srv.url}/bare", clock=lambda: 123)
        [item] = await source.fetch()
        [again] = await source.fetch()
        await source.close()
    assert item.ts_ns == 123 and item.id.startswith("sha1:") and again.id == item.id
    assert item.source == "Bare"


async def test_a_second_poll_sends_the_validators_and_a_304_is_empty() -> None:
    feed = Feed(fixture("energy.rss"))
    with feed_server({"/energy": feed}) as srv:
        source = RssSource(f"{srv.url}/energy")
        assert len(await source.fetch()) == 3
        assert await source.fetch() == []
        await source.close()
        first, second = srv.hits("/energy")
    assert "if-none-match" not in first and "if-modified-since" not in first
    assert second["if-none-match"] == '"v1"'
    assert second["if-modified-since"] == "Mon, 03 Mar 2025 12:00:00 GMT"
    assert source.etag == '"v1"'


async def test_validators_from_a_previous_process_make_the_first_poll_polite() -> None:
    feed = Feed(fixture("energy.rss"), etag=None)  # Last-Modified only
    with feed_server({"/energy": feed}) as srv:
        source = RssSource(f"{srv.url}/energy", last_modified=feed.last_modified)
        assert await source.fetch() == []
        await source.close()
        [hit] = srv.hits("/energy")
    assert hit["if-modified-since"] == feed.last_modified and "if-none-match" not in hit


async def test_a_malformed_feed_keeps_the_entries_it_yielded_and_counts_the_problem() -> None:
    with feed_server({"/broken": static(fixture("malformed.rss"))}) as srv:
        source = RssSource(f"{srv.url}/broken")
        items = await source.fetch()
        await source.close()
    assert [i.id for i in items] == ["broken-1", "broken-2"]
    assert source.malformed == 1 and "not well-formed" in source.last_problem


@pytest.mark.parametrize(
    "name,content_type,reason",
    [
        ("truncated.xml", "application/xml", "SAXParseException"),
        ("not_a_feed.html", "text/html", "NonXMLContentType: text/html is not an XML media type"),
        ("not_a_feed.html", "application/xml", "no feed or entries found"),
    ],
)
async def test_a_document_that_yields_nothing_is_not_a_feed(
    name: str, content_type: str, reason: str
) -> None:
    with feed_server({"/x": static(fixture(name), content_type=content_type)}) as srv:
        source = RssSource(f"{srv.url}/x")
        with pytest.raises(SourceError) as err:
            await source.fetch()
        await source.close()
    message = str(err.value)
    assert message.startswith(f"not an RSS/Atom feed: {reason}"), message
    assert message.endswith(f"({srv.url}/x)") and "\n" not in message


async def test_http_errors_are_one_line_naming_status_and_endpoint() -> None:
    routes = {"/down": static(b"oops", 500, "text/plain"), "/gone": static(b"", 404)}
    with feed_server(routes) as srv:
        for path, status in (("/down", "HTTP 500 Internal Server Error"), ("/gone", "HTTP 404")):
            source = RssSource(f"{srv.url}{path}?token=s3cr3t&page=2")
            with pytest.raises(SourceError) as err:
                await source.fetch()
            await source.close()
            message = str(err.value)
            assert message.startswith(status) and "\n" not in message
            assert f"{srv.url}{path}?token=***&page=2" in message and "s3cr3t" not in message


async def test_a_body_larger_than_max_bytes_is_refused_while_it_downloads() -> None:
    body = fixture("energy.rss")
    with feed_server({"/big": static(body * 20), "/ok": static(body)}) as srv:
        source = RssSource(f"{srv.url}/big", max_bytes=len(body) * 2)
        with pytest.raises(SourceError, match=r"more than [\d,]+ bytes from http://"):
            await source.fetch()
        assert source.etag is None  # nothing of the refused answer is kept
        ok = RssSource(f"{srv.url}/ok", max_bytes=len(body))
        assert len(await ok.fetch()) == 3
        await source.close()
        await ok.close()


async def test_a_server_that_stalls_times_out() -> None:
    with feed_server({"/slow": stalled()}) as srv:
        source = RssSource(f"{srv.url}/slow", timeout_s=0.3)
        with pytest.raises(
            SourceError, match=r"^timed out after 0.3 s: http://127.0.0.1:\d+/slow$"
        ):
            await source.fetch()
        await source.close()


async def test_a_refused_connection_is_a_source_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = RssSource(f"http://user:pw@127.0.0.1:{port}/feed", timeout_s=2)
    with pytest.raises(SourceError) as err:
        await source.fetch()
    await source.close()
    assert str(err.value).startswith(f"cannot reach http://127.0.0.1:{port}/feed")
    assert "pw" not in str(err.value)


@pytest.mark.parametrize("url", ["ftp://x.example/feed", "file:///etc/passwd", "news", "http://"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ValueError, match="must be http:// or https://"):
        RssSource(url)


def test_a_url_shown_or_stored_has_no_credentials() -> None:
    assert safe_url("https://bob:hunter2@feeds.example:8443/rss?apikey=K&lang=en#x") == (
        "https://feeds.example:8443/rss?apikey=***&lang=en"
    )


def test_html_is_stripped_from_summaries() -> None:
    assert plain_text("<p>Brent &amp; WTI <b>rise</b></p>\n<br/>again") == "Brent & WTI rise again"
    # a reference is decoded once: an escaped tag in the text stays text; scripts are not text
    assert plain_text("AT&amp;amp;T &amp;lt;b&amp;gt; up") == "AT&amp;T &lt;b&gt; up"
    assert plain_text("<script>var x = 1;</script><style>p {}</style>Oil rises") == "Oil rises"
