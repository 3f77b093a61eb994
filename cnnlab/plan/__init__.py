"""Planning the lab: config.yaml checked, its tasks expanded into runs and trainings.

``config`` checks the config against its schema; ``grid`` turns tasks into runs and
trainings (the plan); ``cost`` estimates each training's time and memory, which orders
the jobs; ``selection`` applies 6E's rule to the results of 6A-6D. Planning must stay
cheap (``snakemake -n`` runs it): it imports ``store`` and ``analysis`` only, never the
data, training or report wings, and no TensorFlow, matplotlib or Jinja.
"""
