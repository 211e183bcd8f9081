"""``dff serve``: serve a trained detector over HTTP (FastAPI + uvicorn); options are the fields of `ServeConfig`."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepfakeforensics.commands.predict import load_detector_model
from deepfakeforensics.evaluation.compare import run_window_config
from deepfakeforensics.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.serve import Engine, ServeConfig, read_api_key, serve


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument("--weights", required=True, help="a training run folder (its best.pt) or a checkpoint file")
    p.add_argument("--model", default=None, help="registered model name (needed for a Keras .h5 file only)")
    add_dataclass_arguments(p.add_argument_group("server (ServeConfig)"), ServeConfig)


def checkpoint_path(weights: str) -> Path:
    """A run folder's ``best.pt``, or the file itself."""
    path = Path(weights)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{weights}: no such checkpoint (a run folder with best.pt, or a weights file)")
    return path


def run(args: argparse.Namespace) -> int:
    config = dataclass_from_args(ServeConfig, args)
    checkpoint = checkpoint_path(args.weights)
    model = load_detector_model(args.model, str(checkpoint))
    windows = run_window_config(checkpoint.parent) if model.default_cfg.temporal else None
    engine = Engine(model, checkpoint, config, windows)
    key = read_api_key(config)
    described = engine.describe()
    print(f"serving {described['name']} ({checkpoint}) on http://{config.host}:{config.port}")
    print(f"threshold {described['threshold']:.4g}: {described['threshold_source']}")
    print("API key required (all routes but /health)" if key else "no API key set: anyone who can connect may call it")
    serve(engine, config, key)
    return 0
