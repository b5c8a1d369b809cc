"""The acceptance checks, one module per success criterion. Each check's docstring is its requirement."""
