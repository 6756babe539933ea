"""Python scripts run inside hubdist's images, by the tests of both images."""

from __future__ import annotations


def iri_probe(first_import: str) -> str:
    """A script that imports ``first_import``, fails if that built rfc3987_syntax's grammars
    (lark imported), then prints how jsonschema judges a valid IRI, an invalid IRI and an
    invalid IRI reference: "True False False" when the deferred grammar still checks."""
    return (
        f"import sys, {first_import}, jsonschema\n"
        "assert 'lark' not in sys.modules, 'the grammar was built at import'\n"
        "checker = jsonschema.FormatChecker()\n"
        "print(checker.conforms('https://example.org/\\u00e4', 'iri'),"
        " checker.conforms('not an iri', 'iri'), checker.conforms('a b', 'iri-reference'))\n"
    )
