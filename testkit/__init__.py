"""Test support shared by `tests/` and `bench/`: the fake Slack and HubSpot APIs and the signing of
requests as Slack and the CRMs sign them. Neither the bot nor the suite's fixtures live here."""
