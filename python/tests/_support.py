"""Shared by the tests: where the fixtures are (../shared/fixtures beside the repository, or $DND_FIXTURES)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package, without installing it

import dnd_torch  # noqa: E402,F401

REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.environ.get("DND_FIXTURES") or os.path.join(os.path.dirname(REPO), "shared", "fixtures")


def fixture(*parts: str) -> str:
    return os.path.join(FIXTURES, *parts)
