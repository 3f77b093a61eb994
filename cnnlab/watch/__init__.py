"""Watching a lab while it runs: the ``cnnlab`` command, each training's state, and the
report of what exists now.

``command`` is the ``cnnlab`` command; ``status`` reads the heartbeats and results into one
line per training; ``partial`` renders the partial report. Only the command line and the
rules import this wing.
"""
