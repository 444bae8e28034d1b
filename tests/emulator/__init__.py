"""Tests of the bundled ActiveCampaign emulator (real loopback HTTP, no mocks)."""
