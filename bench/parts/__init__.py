"""The benchmark's parts, one module each, with the same three functions.

``measure(ctx) -> dict`` runs the part and returns its results (latest.json's
``results[part]``); ``render(ctx, result) -> str`` is its section of the report;
``checks(ctx, result) -> list`` its rows of the report's checks (none for some parts).
"""
