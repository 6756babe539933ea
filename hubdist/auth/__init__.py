"""How users log in: ``github``, ``oidc`` (OpenID Connect) and ``gitlab``, configured from the
environment (``environment`` picks the one set; ``oauth`` holds what they share), and
``trial`` (local trial mode, when nothing else is configured)."""
