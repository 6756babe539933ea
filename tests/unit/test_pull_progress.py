"""Pull progress as the engine's JSON stream reports it."""

from hubdist.engine import PullProgress


def test_layers_and_bytes_are_counted():
    p = PullProgress("img:1")
    p.update({"status": "Pulling from library/img", "id": "1"})  # tag line, not a layer
    p.update({"status": "Pulling fs layer", "id": "aaa"})
    p.update({"status": "Pulling fs layer", "id": "bbb"})
    p.update(
        {
            "status": "Downloading",
            "id": "aaa",
            "progressDetail": {"current": 5_000_000, "total": 10_000_000},
        }
    )
    p.update({"status": "Already exists", "id": "bbb"})
    assert p.layers_done == 1
    assert "1 of 2 layers" in p.describe()
    assert "5.0 of 10.0 MB" in p.describe()
    p.update({"status": "Pull complete", "id": "aaa"})
    assert p.layers_done == 2 and p.fraction == 1.0


def test_tagged_status_lines_are_not_layers():
    p = PullProgress("img:1")
    p.update({"status": "Digest: sha256:abc", "id": "sha256:abc"})
    assert p.layers == {}
