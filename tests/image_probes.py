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
