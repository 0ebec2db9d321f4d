"""Reusable L3 constructs of the MLOps platform.

Not named ``constructs`` on purpose: a top-level package of that name would shadow the
``constructs`` library that aws-cdk-lib imports.
"""
