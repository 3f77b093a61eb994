"""The lab report: the results loaded, turned into answers, tables and figures, rendered.

``results`` loads each task's trainings; ``answers``, ``direct_answers``, ``concepts``,
``comparisons`` and ``significance`` word them; ``tables`` and ``formatting`` lay them
out; ``figures`` and ``concept_figures`` draw them; ``page`` renders the HTML with the
templates under report/. It may import ``plan``, ``store`` and ``analysis``; never the
training wing.
"""
