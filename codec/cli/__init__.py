"""The ``codec`` command line: one module per command; ``codec.cli.main`` dispatches."""
