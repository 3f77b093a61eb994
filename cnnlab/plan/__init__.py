"""Planning the lab: config.yaml checked, its tasks expanded into runs and trainings.

``config`` checks the config against its schema; ``expansion`` expands a task into its
runs' parameters; ``runs`` holds what a plan is made of (a run, an entry, a training, a
task); ``plan`` turns tasks into runs and trainings (the plan); ``complete_plan`` builds
the complete plan of a lab folder, with the selections made so far (the one builder every
caller uses); ``answer_kinds`` lists the kinds of answer; ``concept_models`` chooses the
trained models a concept answer inspects; ``scheduling`` estimates each training's time and
memory, which orders the jobs; ``selection`` applies 6E's rule to the results of 6A-6D
(``selection_seeds`` for a set-up's seeds, ``selection_check`` for a selection file read
back). Planning must stay cheap (``snakemake -n`` runs it): it imports
``store`` and ``analysis`` only, never the data, training, report or watch wings, and no
TensorFlow, matplotlib or Jinja.
"""
