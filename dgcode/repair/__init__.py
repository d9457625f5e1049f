"""dgcode's own repair model: its canvas, byte edit operations, and running it to repair a file."""
