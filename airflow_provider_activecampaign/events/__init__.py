"""Custom events through ActiveCampaign event tracking."""
