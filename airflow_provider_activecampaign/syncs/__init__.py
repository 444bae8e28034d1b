"""Reverse-ETL machinery shared by every sync: state, fingerprints, plans, mirror caps, history."""
