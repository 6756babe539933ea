"""Internal SSL: the server's certificate files as its container gets them."""

import io
import tarfile

from hubdist.spawners import certs


def test_the_files_land_in_certs_readable_by_the_servers_user(tmp_path):
    paths = {}
    for key, name in (("keyfile", "user.key"), ("certfile", "user.crt"), ("cafile", "ca.crt")):
        (tmp_path / name).write_text(f"{key} content")
        paths[key] = str(tmp_path / name)

    members = tarfile.open(fileobj=io.BytesIO(certs.archive(paths))).getmembers()

    assert [(m.name, oct(m.mode)) for m in members] == [
        ("certs", "0o755"),
        ("certs/ca.crt", "0o644"),
        ("certs/user.crt", "0o644"),
        ("certs/user.key", "0o644"),
    ]
    assert certs.paths_in(certs.CERTS_DIR, paths) == {
        "keyfile": "/certs/user.key",
        "certfile": "/certs/user.crt",
        "cafile": "/certs/ca.crt",
    }
