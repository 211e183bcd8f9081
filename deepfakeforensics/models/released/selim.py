"""Released detectors of selim (being written)."""
