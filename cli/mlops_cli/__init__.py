"""The ``mlops`` command: a data scientist's view of one project of the MLOps platform, from their sandbox."""
