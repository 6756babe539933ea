"""Make aiohttp's two default SSL contexts on first use, not at import (run at image build).

``aiohttp.connector`` builds a verifying and a non-verifying SSL context when it is
imported, each loading the system's CA bundle: 0.1 CPU-second each with Debian bookworm's
OpenSSL 3.0, 0.035 with trixie's 3.5 (measured in the images), in every process that
imports aiohttp, which JupyterHub's code does in the hub and in every
single-user server. Neither uses them: they talk to each other over plain HTTP, or with
JupyterHub's own SSL context (internal SSL). They are now made the first time a request
needs one (an ``https`` URL with no SSL context of its own), once per process, with the same
settings; that request waits for the one load it needs. Both hubdist images
(images/singleuser/Dockerfile, Dockerfile); docs/performance.md.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import editing  # beside this script

PACKAGE = Path(aiohttp.__file__).parent

EDITS: list[editing.Edit] = [
    (
        "connector.py",
        "# The default SSLContext objects are created at import time\n"
        "# since they do blocking I/O to load certificates from disk,\n"
        "# and imports should always be done before the event loop starts\n"
        "# or in a thread.\n"
        "_SSL_CONTEXT_VERIFIED = _make_ssl_context(True)\n"
        "_SSL_CONTEXT_UNVERIFIED = _make_ssl_context(False)\n",
        "# hubdist: the default SSLContext objects are made when a request first needs one\n"
        "# (hubdist's images/singleuser/edits/aiohttp_ssl_contexts.py says why)\n"
        "_default_ssl_context = functools.cache(_make_ssl_context)\n\n\n"
        "def __getattr__(name: str) -> Any:\n"
        '    if name in ("_SSL_CONTEXT_VERIFIED", "_SSL_CONTEXT_UNVERIFIED"):\n'
        '        return _default_ssl_context(name == "_SSL_CONTEXT_VERIFIED")\n'
        '    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")\n',
    ),
    (
        "connector.py",
        "        if sslcontext is not True:\n"
        "            # not verified or fingerprinted\n"
        "            return _SSL_CONTEXT_UNVERIFIED\n"
        "        sslcontext = self._ssl\n"
        "        if isinstance(sslcontext, ssl.SSLContext):\n"
        "            return sslcontext\n"
        "        if sslcontext is not True:\n"
        "            # not verified or fingerprinted\n"
        "            return _SSL_CONTEXT_UNVERIFIED\n"
        "        return _SSL_CONTEXT_VERIFIED\n",
        "        if sslcontext is not True:\n"
        "            # not verified or fingerprinted\n"
        "            return _default_ssl_context(False)\n"
        "        sslcontext = self._ssl\n"
        "        if isinstance(sslcontext, ssl.SSLContext):\n"
        "            return sslcontext\n"
        "        if sslcontext is not True:\n"
        "            # not verified or fingerprinted\n"
        "            return _default_ssl_context(False)\n"
        "        return _default_ssl_context(True)\n",
    ),
]

# In a fresh interpreter: importing aiohttp loads no CA bundle, and the contexts made on
# first use are aiohttp's (one verifying, one not, each made once).
CHECK = """\
import ssl
loads = []
for name in ("load_default_certs", "set_default_verify_paths", "load_verify_locations"):
    def counted(self, *args, _real=getattr(ssl.SSLContext, name), **kwargs):
        loads.append(1)
        return _real(self, *args, **kwargs)
    setattr(ssl.SSLContext, name, counted)
import aiohttp, aiohttp.connector as connector
at_import = len(loads)
verified, unverified = connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED
assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname, "verifying"
assert unverified.verify_mode == ssl.CERT_NONE, "not verifying"
assert connector._SSL_CONTEXT_VERIFIED is verified, "made once"
print(at_import)
"""


def fail(message: str) -> None:
    editing.fail(__file__, message, "aiohttp", aiohttp.__version__)


def main() -> None:
    editing.apply(PACKAGE, EDITS, __file__, fail)
    loads = editing.run_python(CHECK, fail).strip()
    if loads != "0":
        fail(f"importing aiohttp still loads the CA bundle ({loads} times)")
    print(f"aiohttp {aiohttp.__version__}: {len(EDITS)} edits; no CA bundle loaded at import")


if __name__ == "__main__":
    main()
