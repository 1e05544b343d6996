"""The weekly agenda's tables and readings: channel subscriptions and what an agenda lists."""
