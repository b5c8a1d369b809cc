"""Registers the suite's pytest plugin (fixtures/plugin.py): targets, stacks, `registry`, reports."""

pytest_plugins = ["fixtures.plugin", "fixtures.resources"]
