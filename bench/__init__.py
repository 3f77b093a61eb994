"""The speed benchmark, cnnlab against the notebook way; bench/run.py is its command."""
