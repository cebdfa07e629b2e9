"""Tuning: every experiment searched with the same budget on the validation split before it is
ranked (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", ECCV 2020).

- :mod:`.settings`: the ``tune:`` block (budget, sampler, pruner, storage);
- :mod:`.space`: an experiment's search space (its loss's parameters, learning rate and weight
  decay by default; ``experiments.<name>.search`` narrows, widens or fixes any dimension) and
  how a trial's parameters become a resolved experiment;
- :mod:`.budget`: the study in its storage, and exactly ``tune.trials`` finished trials across
  every process that works on it;
- :mod:`.trials`: a batch of trials trained together in one step, pruned between epochs;
- :mod:`.tuner`: one experiment's study, in this process or spread over a Dask cluster;
- :mod:`.summary`: what a study found (best parameters, every trial, the best so far, the
  importances, the expected best of n trials) and the validation objective's standard error.

Nothing here reads the test split. Nothing is imported here, so the settings load alone.
"""
