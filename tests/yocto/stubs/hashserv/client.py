# See __init__.py: imported by bb.siggen, never used while parsing.
