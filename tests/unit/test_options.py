"""allowed_images: deny by default, labels, '*', callables, and a well-formed form."""

from html.parser import HTMLParser

import pytest

from hubdist.spawners import options


def test_empty_allow_list_refuses_any_choice():
    with pytest.raises(options.ImageNotAllowed, match="not allowed"):
        options.resolve_image("evil/miner", options.normalize_allowed({}, None))


def test_star_allows_anything_but_still_checks_the_type():
    assert options.resolve_image("any/image:1", "*") == "any/image:1"
    with pytest.raises(options.ImageNotAllowed, match="string"):
        options.resolve_image(["a", "list"], "*")


def test_labels_map_to_images_and_unknown_ones_are_named_in_the_error():
    allowed = options.normalize_allowed({"Lab": "img/lab:4", "R": "img/r:1"}, None)
    assert options.resolve_image("Lab", allowed) == "img/lab:4"
    assert options.resolve_image("img/r:1", allowed) == "img/r:1"
    with pytest.raises(options.ImageNotAllowed, match="Lab, R"):
        options.resolve_image("other", allowed)


def test_list_and_callable_forms():
    assert options.normalize_allowed(["a", "b"], None) == {"a": "a", "b": "b"}
    assert options.normalize_allowed(lambda spawner: ["x"], None) == {"x": "x"}
    with pytest.raises(TypeError):
        options.normalize_allowed(42, None)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_form_is_html_with_escaped_labels_and_current_selected():
    html = options.options_form({"A <b>": "img/a", "B": "img/b"}, "img/b")
    assert "<b>" not in html and "['" not in html
    parser = _Collect()
    parser.feed(html)
    opts = [attrs for tag, attrs in parser.tags if tag == "option"]
    assert [o["value"] for o in opts] == ["A <b>", "B"]
    assert "selected" in opts[1] and "selected" not in opts[0]


def test_no_form_without_a_choice():
    assert options.options_form({"only": "img"}, "img") == ""
    assert options.options_form("*", "img") == ""


def test_options_from_form_takes_the_image_field():
    assert options.options_from_form({"image": ["Lab"]}) == {"image": "Lab"}
    assert options.options_from_form({}) == {}
