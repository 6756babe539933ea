"""How users log in: ``github`` (GitHub OAuth from the environment) and ``trial`` (local
trial mode, when nothing else is configured)."""
