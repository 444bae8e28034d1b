"""Sending ActiveCampaign campaigns, below the Airflow faces.

``api`` (the calls and status rules), ``request``, ``audience``, ``schedule``, ``sender`` (never
twice), ``result`` and ``waiting``.
"""
