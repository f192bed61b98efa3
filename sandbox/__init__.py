"""Local sandbox servers that stand in for external services (no internet here).

Each sandbox follows the provider's public documentation closely enough that
the app's unchanged client code talks to it; only base URLs differ. They are
used by the test suite and by a coach's local trial (``python -m sandbox.google``).
"""
