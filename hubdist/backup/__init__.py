"""``hubdist backup`` and ``hubdist restore``: the hub's state in one archive.

The archive (a .tar.gz, see hubdist.backup.archive) holds a consistent copy of the database
taken while the hub runs, the secrets that must outlive the hub (cookie secret, crypt key,
proxy token, the trial password), and the configuration layers. Users' volumes may be large
and are saved by the documented commands (docs/operations.md, Backup and restore); the
archive lists them.
"""
