"""Training one run: the TensorFlow process, the model, its optimizer, its input pipeline,
its resume state, and the loop that fits and records the epochs.

``runtime`` sets up the TensorFlow process before any op; ``devices`` picks the CPU or a
GPU; ``models`` and ``optimizers`` build what a run names; ``pipelines`` feeds the
batches; ``checkpoints`` saves and restores the resume state; ``job`` is what a training
job is made of and writes; ``training`` runs it all.
The only wing that imports TensorFlow at its top; the report never imports it.
"""
