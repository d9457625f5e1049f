"""Git operations dgcode needs, none of them destructive: the one git runner (git.py), snapshots of uncommitted work."""
