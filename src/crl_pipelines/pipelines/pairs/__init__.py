"""The pairs pipeline."""
