"""Released detectors of sbi (being written)."""
