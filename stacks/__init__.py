"""Stacks of the platform. They only compose constructs from ``mlops_constructs``."""
