"""Editor context: files, selections, git state and a tree-sitter repo map, assembled into a prompt."""
