"""Released detectors of polimi (being written)."""
