"""The lab's files on disk: where each one lives, how it is written, how it is read back.

``layout`` spells every path the workflow reads or writes; ``files`` holds the one atomic
writer and the typed readers of the JSON files, summary.csv and predictions.npz
(``selection_file`` 6E's selection; ``tables`` the tidy tables);
``history`` reads and writes history.csv and checks a finished training's outputs as a
whole; ``heartbeat`` is a running training's progress file. Every other wing reads and
writes through these; this wing imports nothing of cnnlab but ``cnnlab.errors``.
"""
