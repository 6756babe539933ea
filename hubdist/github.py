"""``hubdist.github.GitHubAuthenticator``, the name configs written for hubdist 0.1 use;
the code is in hubdist.auth.github."""

from .auth.github import GitHubAuthenticator

__all__ = ["GitHubAuthenticator"]
