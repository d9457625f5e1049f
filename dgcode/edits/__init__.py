"""Model output to safe edits of the working tree: parsing, matching, atomic writes."""
