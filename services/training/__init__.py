"""Continuous training: the jobs of the training image (``python -m services.training``).

- ``train`` (:mod:`~services.training.train`): fit a logistic regression on a window of
  labelled curated data with scikit-learn, evaluate it on a held-out split, compare it with
  the serving model on the same split, write model, baseline and metrics under a new version
  in the models zone, register it and promote it when it beats the serving model by the
  configured margin (otherwise it waits for ``python -m stacks models approve``).
- ``drift`` (:mod:`~services.training.drift`): compare the newest curated data with the
  serving model's baseline (PSI or Kolmogorov-Smirnov per feature) and publish the scores as
  CloudWatch metrics, which the platform alarms on.

Shared parts: :mod:`~services.training.data` (windows of records, validation),
:mod:`~services.training.stats` (feature statistics, PSI, KS),
:mod:`~services.training.registry` (the DynamoDB model registry, plain boto3),
:mod:`~services.training.errors` (exit codes, JSON log lines).

Nothing is imported here, so ``services.training.registry`` works without numpy.
"""
