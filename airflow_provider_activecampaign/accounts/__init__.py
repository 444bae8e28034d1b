"""Accounts (companies): upserted by name or a custom-field key, contacts linked one account each."""
