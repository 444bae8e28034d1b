"""E-commerce ("Deep Data") writes: customers and orders upserted by ``externalid``, never twice."""
