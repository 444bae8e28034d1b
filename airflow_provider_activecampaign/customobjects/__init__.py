"""Custom objects: schemas and their records, written from a warehouse by external id."""
