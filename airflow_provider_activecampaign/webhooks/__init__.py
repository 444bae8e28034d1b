"""ActiveCampaign webhooks: payload rules, the asset each event lands on, registration and reconcile.

Nothing here talks to Airflow's api-server: ``plugins/`` (the receiver) and ``operators/webhooks.py``
(registration, reconcile) are the faces that use these rules.
"""
