"""Subcommands of ``dff``; see ``deepfakeforensics.cli``."""
