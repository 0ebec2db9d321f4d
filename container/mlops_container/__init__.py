"""One package for every SageMaker role of the platform's image: processing, training, evaluation, serving.

It follows SageMaker's container contracts (paths under ``/opt/ml``, ``train``/``serve`` entrypoints,
``/ping`` and ``/invocations`` on port 8080). ``MLOPS_ML_ROOT`` moves ``/opt/ml`` so the same code runs
on a laptop (see ``mlops_container.local``).
"""

__version__ = "0.1.0"
