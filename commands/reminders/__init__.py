"""Reminders: the rules people configure, the DM each reminder is, and its buttons."""
