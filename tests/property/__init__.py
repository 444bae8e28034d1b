"""Kill / late-apply property suite: every writer killed at every write, retried as Airflow does."""
