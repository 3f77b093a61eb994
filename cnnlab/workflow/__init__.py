"""cnnlab under Snakemake: a script's entry point, the Snakemake process behind a job, and
the start-up check that moves damaged outputs aside.

``entrypoint`` turns a user's mistake in a job into one message; ``snakemake_process``
finds the Snakemake behind a job or folder; ``damaged`` checks finished outputs when the
workflow starts. Imported by the rules and scripts.
"""
