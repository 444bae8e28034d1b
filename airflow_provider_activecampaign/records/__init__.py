"""The records floor: what every writer shares below the resources (sources, failures, journal, ...)."""
