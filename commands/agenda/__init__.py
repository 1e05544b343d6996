"""The weekly agenda: what it says (compose) and the /sync command that subscribes a channel."""
