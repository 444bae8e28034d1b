"""Small helpers shared by the foundation tests: fake responses and tiny loopback HTTP servers."""
