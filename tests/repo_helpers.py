"""Test helper: run git in a test repository with a fixed identity."""

from __future__ import annotations

import subprocess


def git(root, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout
