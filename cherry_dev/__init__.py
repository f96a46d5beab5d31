"""Development support for this checkout only (never installed): the launch-file stand-in, the
process helpers and the localhost DDS environment that tests, benchmarks, the demo and CI use.

Run from the repository root (pytest, ``python -m``, ``benchmarks/``) to import it.
"""
