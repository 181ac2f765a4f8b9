"""The schema of the SQLite file and the migrations that build it.

``MIGRATIONS[i]`` takes a file from ``PRAGMA user_version = i`` to ``i + 1``; a new file runs
them all. Migrations are append-only: an existing user database must keep migrating exactly as
before, so a released step is never edited, only followed by a new one.
"""

from __future__ import annotations

_V1 = """
CREATE TABLE instruments (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, tick_size TEXT NOT NULL, lot_size TEXT NOT NULL,
  quote_ccy TEXT NOT NULL, base_ccy TEXT NOT NULL DEFAULT '', min_qty TEXT NOT NULL DEFAULT '0',
  min_notional TEXT NOT NULL DEFAULT '0', asset_class TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (venue, symbol)
);
CREATE TABLE candles (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
  open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
  volume REAL NOT NULL,
  PRIMARY KEY (venue, symbol, timeframe, ts)
) WITHOUT ROWID;
CREATE TABLE signals (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, venue TEXT NOT NULL, symbol TEXT NOT NULL,
  timeframe TEXT NOT NULL, action TEXT NOT NULL, confidence REAL NOT NULL, price REAL,
  reasons TEXT NOT NULL DEFAULT '[]', cycle TEXT, relayed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX signals_symbol_ts ON signals (symbol, ts);
CREATE TABLE orders (
  client_id TEXT PRIMARY KEY, venue TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
  type TEXT NOT NULL, qty TEXT NOT NULL, price TEXT, stop TEXT, tif TEXT NOT NULL,
  status TEXT NOT NULL, filled_qty TEXT NOT NULL DEFAULT '0', avg_price TEXT, sl TEXT, tp TEXT,
  broker_id TEXT, reason TEXT NOT NULL DEFAULT '', created_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE fills (
  id INTEGER PRIMARY KEY, fill_id TEXT NOT NULL, client_id TEXT NOT NULL, venue TEXT NOT NULL,
  symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL,
  fee TEXT NOT NULL, fee_ccy TEXT NOT NULL DEFAULT '', ts INTEGER NOT NULL,
  UNIQUE (venue, fill_id)
);
CREATE TABLE positions (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, qty TEXT NOT NULL, avg_price TEXT NOT NULL,
  realized_pnl TEXT NOT NULL DEFAULT '0', fees TEXT NOT NULL DEFAULT '0',
  updated_ns INTEGER NOT NULL, PRIMARY KEY (venue, symbol)
);
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  symbol TEXT NOT NULL DEFAULT '', title TEXT NOT NULL, body TEXT NOT NULL,
  channel TEXT NOT NULL DEFAULT '', dedup_key TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  message_id TEXT, next_attempt_ns INTEGER NOT NULL DEFAULT 0, sent_ns INTEGER
);
CREATE INDEX alerts_status ON alerts (status, id);
CREATE TABLE watchlists (
  name TEXT NOT NULL, symbol TEXT NOT NULL, position INTEGER NOT NULL,
  PRIMARY KEY (name, symbol)
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}'
);
"""

_V2 = """
CREATE TABLE balances (
  venue TEXT NOT NULL, asset TEXT NOT NULL, total TEXT NOT NULL, updated_ns INTEGER NOT NULL,
  PRIMARY KEY (venue, asset)
);
CREATE TABLE equity (
  venue TEXT NOT NULL, ts INTEGER NOT NULL, equity REAL NOT NULL, PRIMARY KEY (venue, ts)
);
CREATE INDEX fills_client ON fills (client_id);
"""

# The alerts outbox gains the 'unknown' status (a send that may or may not have reached the
# server: never resent automatically) and a JSON ``data`` column for the formatter. SQLite
# cannot alter a CHECK constraint, so the table is rebuilt.
_V3 = """
CREATE TABLE alerts_v3 (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  symbol TEXT NOT NULL DEFAULT '', title TEXT NOT NULL, body TEXT NOT NULL,
  channel TEXT NOT NULL DEFAULT '', dedup_key TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  message_id TEXT, next_attempt_ns INTEGER NOT NULL DEFAULT 0, sent_ns INTEGER,
  data TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO alerts_v3 (id, ts, kind, severity, symbol, title, body, channel, dedup_key, status,
  attempts, last_error, message_id, next_attempt_ns, sent_ns)
  SELECT id, ts, kind, severity, symbol, title, body, channel, dedup_key, status, attempts,
  last_error, message_id, next_attempt_ns, sent_ns FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v3 RENAME TO alerts;
CREATE INDEX alerts_status ON alerts (status, id);
CREATE INDEX alerts_channel ON alerts (channel, status, id);
CREATE INDEX alerts_dedup ON alerts (channel, dedup_key, ts);
CREATE INDEX alerts_sent ON alerts (channel, sent_ns);
"""

# Brackets are found by an index, not by a window over the newest orders: a parent with a
# stop-loss or take-profit stays "open" until the order manager settles it (nothing left to
# protect), however many orders come after it. The audit log is asked whether a decision was
# already taken (a leg dropped by the user, a discrepancy seen): by an index too.
_V4 = """
ALTER TABLE orders ADD COLUMN bracket_done INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_open_brackets ON orders (venue, created_ns)
  WHERE bracket_done = 0 AND (sl IS NOT NULL OR tp IS NOT NULL);
CREATE INDEX audit_action_subject ON audit_log (action, subject);
"""

# A bulk import is staged in ``import_rows`` (invisible to readers) in short transactions, then
# published into ``candles`` in short transactions; ``imports`` says how far each one got, so a
# killed import is discarded (staging) or completed (publishing) on the next open.
_V5 = """
CREATE TABLE imports (
  id INTEGER PRIMARY KEY, venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '', rows INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL CHECK (state IN ('staging', 'publishing', 'failed')),
  started_ns INTEGER NOT NULL, heartbeat_ns INTEGER NOT NULL
);
CREATE TABLE import_rows (
  import_id INTEGER NOT NULL, ts INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL,
  low REAL NOT NULL, close REAL NOT NULL, volume REAL NOT NULL,
  PRIMARY KEY (import_id, ts)
) WITHOUT ROWID;
"""

# An order being submitted names the process submitting it: another process sharing the file
# leaves that order alone while its submitter is still running.
_V6 = """
ALTER TABLE orders ADD COLUMN owner TEXT;
"""

# The order path's reads by index: the pre-trade check's recent orders of a venue, and a
# venue's newest fill and its fills since a time (each submit asks both). Which venue lists a
# symbol (asked once per signal of a scan) is found by index too, not by reading every
# instrument.
_V7 = """
CREATE INDEX orders_venue_created ON orders (venue, created_ns);
CREATE INDEX fills_venue_ts ON fills (venue, ts);
CREATE INDEX instruments_symbol ON instruments (symbol, venue);
"""

# Learnt signal models (issue 17): each fit of an instrument's model for one horizon is kept as
# a numbered version with the report it was judged by, so a confidence can name the model it
# came from and a new fit can be compared with the ones before it. A signal keeps the evidence
# its learnt confidence stands on (JSON, NULL for a rule's confidence), so a signal read back
# says what it said when it was produced.
_V8 = """
CREATE TABLE signal_models (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, horizon INTEGER NOT NULL,
  version INTEGER NOT NULL, spec TEXT NOT NULL, fitted_ns INTEGER NOT NULL,
  through_ts_ns INTEGER NOT NULL, bars INTEGER NOT NULL, model TEXT NOT NULL,
  report TEXT NOT NULL,
  PRIMARY KEY (venue, symbol, timeframe, horizon, version)
) WITHOUT ROWID;
ALTER TABLE signals ADD COLUMN evidence TEXT;
"""

# News (issue 23): each item of a source once, keyed by its endpoint and its id (a poll that
# sees it again changes nothing), with its sentiment score (NULL: not scored) and the symbols it
# concerns (JSON). ``news_symbols`` finds a symbol's items by time without reading the JSON of
# every row; ``news_sources`` keeps each endpoint's validators (ETag, Last-Modified: the next
# process polls politely too) and its counters and last state (``qws doctor``, ``qws news``).
_V9 = """
CREATE TABLE news (
  key TEXT NOT NULL, id TEXT NOT NULL, ts INTEGER NOT NULL, fetched_ns INTEGER NOT NULL,
  headline TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '', link TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '', symbols TEXT NOT NULL DEFAULT '[]', score REAL,
  PRIMARY KEY (key, id)
);
CREATE INDEX news_ts ON news (ts);
CREATE TABLE news_symbols (
  symbol TEXT NOT NULL, ts INTEGER NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (symbol, ts, key, id)
) WITHOUT ROWID;
CREATE TABLE news_sources (
  key TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, polls INTEGER NOT NULL DEFAULT 0,
  items INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '', last_ok_ns INTEGER, last_poll_ns INTEGER
);
"""

# Execution algorithms and attribution (issue 22): an order names the strategy that sent it
# ('' for the user's own), the algorithm parent it is a child of, and the mark when its intent
# was recorded (its arrival price: slippage is measured from it). A parent order (TWAP/VWAP)
# keeps its plan and progress in ``algo_parents``, so a restarted process resumes it; its
# children are ordinary orders whose client ids are the parent's plus ``.N``.
_V10 = """
ALTER TABLE orders ADD COLUMN strategy TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN parent_id TEXT;
ALTER TABLE orders ADD COLUMN arrival TEXT;
CREATE INDEX orders_parent ON orders (parent_id, created_ns) WHERE parent_id IS NOT NULL;
CREATE TABLE algo_parents (
  id TEXT PRIMARY KEY, venue TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
  qty TEXT NOT NULL, params TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('working', 'done', 'cancelled', 'stopped')),
  start_ns INTEGER NOT NULL DEFAULT 0, plan TEXT NOT NULL DEFAULT '[]', arrival TEXT,
  last_bar_ns INTEGER NOT NULL DEFAULT 0, market_volume TEXT NOT NULL DEFAULT '0',
  market_notional TEXT NOT NULL DEFAULT '0', strategy TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '[]', owner TEXT,
  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL
);
CREATE INDEX algo_parents_status ON algo_parents (status, venue);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10)
SCHEMA_VERSION = len(MIGRATIONS)
