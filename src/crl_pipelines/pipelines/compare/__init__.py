"""Compare pipeline."""
