"""News sources (the ``qws.sources`` entry points): each implements
:class:`engine.protocols.Source` and yields timestamped :class:`engine.model.NewsItem`.

- ``rss``: RSS and Atom feeds over HTTP (feedparser), polite polling with ETag and
  Last-Modified.
- ``demo``: seeded headlines about the demo instruments for the demo market (its sentiment
  carries no edge).
"""
