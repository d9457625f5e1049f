"""Test helper: run the real git (not the suite's shim) in a test repository with a fixed identity."""

from __future__ import annotations

import subprocess

from git_shim import REAL_GIT


def git(root, *args):
    return subprocess.run([REAL_GIT, "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout
