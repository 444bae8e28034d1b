"""The records floor: what every resource shares (sources, failures, field values, names, ratio rule)."""
