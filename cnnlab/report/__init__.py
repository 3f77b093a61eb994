"""The lab report: the results loaded, turned into answers, tables and figures, rendered.

``setups`` loads each task's set-ups and ``comparisons`` pairs and tests them; the
``answers`` package holds one module per kind of answer (a trained task's comparison, 6E's
selection, each concept kind; ``phrases`` for what they share), each owning its glance sentence, answer, table and details;
``significance``, ``tables`` and ``formatting`` word and lay out what they share;
``figures`` and ``concept_figures`` draw; ``page`` assembles the sections and renders the
HTML with the templates under report/. It may import ``plan``, ``store`` and ``analysis``;
never the training wing.
"""
