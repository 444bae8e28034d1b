"""Any resource of the account out as files: the registry, windows, the paged read, atomic writes."""
