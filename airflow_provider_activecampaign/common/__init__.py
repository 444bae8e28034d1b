"""Machinery several resources share (failure reports), each in its own module."""
