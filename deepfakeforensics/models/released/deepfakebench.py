"""Released detectors of deepfakebench (being written)."""
