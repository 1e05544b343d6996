"""The reminder sweep: what has come due for whom, recorded once and sent as one DM."""
