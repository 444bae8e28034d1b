"""The records floor: what every resource reads and writes records with."""
