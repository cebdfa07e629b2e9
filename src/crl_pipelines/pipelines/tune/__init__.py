"""The tune pipeline."""
