"""Which mounts give a user the engine: the socket, a folder holding it, wherever written."""

from __future__ import annotations

import pytest

from hubdist.spawners.hardening import host_paths, reaches_engine_socket


@pytest.mark.parametrize(
    "path",
    [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "//run//docker.sock",
        "/",
        "/run",
        "/var/run/",
        "/var",
        "/run/containerd",
        "/run/containerd/containerd.sock",
        "/var/run/docker/containerd/containerd.sock.ttrpc",
        "/run/user/1000/docker.sock",
        "/srv/../run",
    ],
)
def test_engine_sockets_and_their_folders_are_recognised(path):
    assert reaches_engine_socket(path)


@pytest.mark.parametrize(
    "path", ["/home/alice", "/run/secrets", "/var/lib/data", "docker.sock", "jupyter-alice", ""]
)
def test_other_paths_and_named_volumes_are_not(path):
    assert not reaches_engine_socket(path)


def test_every_way_of_writing_a_mount_is_found():
    host_config = {
        "binds": {"/a": {"bind": "/x", "mode": "rw"}},
        "mounts": [
            {"type": "bind", "source": "/b", "target": "/y"},
            {"Type": "bind", "Source": "/c", "Target": "/z"},
            {"type": "volume", "source": "v", "driver_config": {"options": {"device": "/d"}}},
            "/e:/w:ro",
        ],
        "environment": {"source": "/not-a-mount"},
    }
    extra = {"binds": ["/f:/u"], "task_template": {"ContainerSpec": {"Mounts": [{"Source": "/g"}]}}}
    assert sorted(host_paths([host_config, extra])) == [
        "/a",
        "/b",
        "/c",
        "/d",
        "/e",
        "/f",
        "/g",
        "v",
    ]
