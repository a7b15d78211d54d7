"""Everything that speaks ccxt: history download now; the adapter, error map and parsing later.

``history`` is the pure planning of a download (series, spans, pagination, gap
checks); ``store`` keeps the downloaded partitions; ``download`` walks a series
through a ccxt exchange. The order adapter, the error map and the parsing still
live in ``exchanges/ccxt_adapter.py``, ``ccxt_errors.py`` and ``ccxt_parse.py``
until they move here.
"""
