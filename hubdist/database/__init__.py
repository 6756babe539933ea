"""The hub's database: SQLite in the data volume (the default) or PostgreSQL, chosen by
``HUBDIST_DATABASE`` (``settings``); the check that it answers before the hub starts
(``reach``); ``hubdist db migrate`` from SQLite to PostgreSQL (``migrate``)."""
