"""Benchmarks: hubdist's DockerSpawner side by side with jupyterhub/dockerspawner 14.0.0.

Run ``python -m benchmarks`` from the repository root (see README.md here). Not part of
the hubdist package: dockerspawner is installed only into the benchmark's own venv.
"""
