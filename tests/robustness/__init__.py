"""Hostile-input, validation and property-based (fuzz) tests for the CLI and the hooks."""
