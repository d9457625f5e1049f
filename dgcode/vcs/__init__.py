"""Git operations dgcode needs, none of them destructive: locating the repository, snapshots of uncommitted work."""
