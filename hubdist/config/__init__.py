"""The hub's configuration: ``layers`` reads the defaults file, the environment and the
override folder in that order into a ``recording`` Config, so that every value knows where it
was set; ``catalog`` says what may be set (unknown classes, options and types are refused),
``variables`` which environment variables the defaults read, ``tree`` how a Config is
walked, and ``inspect`` shows it all for ``hubdist config show`` and ``check``. The defaults
file itself is config/jupyterhub_config.py at the top of the repository (/etc/hubdist in the
hub image)."""
