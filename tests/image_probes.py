"""Python scripts run inside hubdist's images, by the tests of both images."""

from __future__ import annotations


def iri_probe(first_import: str) -> str:
    """A script that fails if the interpreter's start-up hook loaded importlib.abc (and
    importlib.resources with it: 25 ms more for every Python process in the image), or if
    importing ``first_import`` built rfc3987_syntax's grammars (lark imported), then prints
    how jsonschema judges a valid IRI, an invalid IRI and an invalid IRI reference: "True
    False False" when the deferred grammar still checks."""
    return (
        "import sys\n"
        "assert 'importlib.abc' not in sys.modules, 'the start-up hook loaded importlib.abc'\n"
        f"import {first_import}, jsonschema\n"
        "assert 'lark' not in sys.modules, 'the grammar was built at import'\n"
        "checker = jsonschema.FormatChecker()\n"
        "print(checker.conforms('https://example.org/\\u00e4', 'iri'),"
        " checker.conforms('not an iri', 'iri'), checker.conforms('a b', 'iri-reference'))\n"
    )


def aiohttp_tls_probe(first_import: str) -> str:
    """A script that counts the CA-bundle loads of importing ``first_import`` (0 once aiohttp
    makes its default SSL contexts on first use), then has aiohttp ask a local HTTPS server
    with a self-signed certificate three ways, printing one line each: the default context
    must refuse the certificate, ``ssl=False`` and a context trusting it must get 200."""
    return f"""\
import asyncio, datetime, http.server, ssl, tempfile, threading
loads = []
for name in ("load_default_certs", "set_default_verify_paths", "load_verify_locations"):
    def counted(self, *args, _real=getattr(ssl.SSLContext, name), **kwargs):
        loads.append(name)
        return _real(self, *args, **kwargs)
    setattr(ssl.SSLContext, name, counted)
import {first_import}, aiohttp
print("CA loads at import:", len(loads))
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5))
    .not_valid_after(now + datetime.timedelta(hours=1))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    .sign(key, hashes.SHA256())
)
pem = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
pem.write(cert.public_bytes(serialization.Encoding.PEM))
pem.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
pem.close()
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
serving.load_cert_chain(pem.name)
server.socket = serving.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"https://localhost:{{server.server_address[1]}}/"
async def ask():
    async with aiohttp.ClientSession() as session:
        try:
            await session.get(url)
            print("default context: accepted")
        except aiohttp.ClientConnectorCertificateError:
            print("default context: certificate refused")
        async with session.get(url, ssl=False) as answer:
            print("without verification:", answer.status)
        async with session.get(url, ssl=ssl.create_default_context(cafile=pem.name)) as answer:
            print("trusting it:", answer.status)
asyncio.run(ask())
"""


AIOHTTP_TLS_ANSWERS = [
    "CA loads at import: 0",
    "default context: certificate refused",
    "without verification: 200",
    "trusting it: 200",
]
