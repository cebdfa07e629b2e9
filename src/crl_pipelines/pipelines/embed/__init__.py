"""The embed pipeline."""
