"""Deals: upserted by an external key in a deal custom field, never twice."""
