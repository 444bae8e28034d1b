"""ActiveCampaign automations: the rules below the Airflow faces (mapping, batching, idempotency)."""
