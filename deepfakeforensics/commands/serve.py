"""``dff serve``: serve a trained detector over HTTP (FastAPI + uvicorn); options are the fields of `ServeConfig`."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from deepfakeforensics.commands.options import add_dataclass_arguments
    from deepfakeforensics.serve.config import ServeConfig

    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument(
        "--weights",
        required=True,
        nargs="+",
        help="a training run folder (its best.pt), a checkpoint, a released detector's file (recognised from its "
        "layout), or several files (the mean of their probabilities)",
    )
    p.add_argument("--model", default=None, help="registered model name (a Keras .h5 file needs it; else checked)")
    add_dataclass_arguments(p.add_argument_group("server (ServeConfig)"), ServeConfig)


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.commands.options import dataclass_from_args
    from deepfakeforensics.serve import Engine, ServeConfig, check_exposure, read_api_key, serve

    config = dataclass_from_args(ServeConfig, args)
    key = read_api_key(config)
    check_exposure(config, key)  # before loading the model: a refused address fails at once
    weights = args.weights if len(args.weights) > 1 else args.weights[0]
    engine = Engine.from_weights(weights, config, args.model)
    described = engine.describe()
    print(f"serving {described['name']} ({', '.join(described['weights'])}) on http://{config.host}:{config.port}")
    print(f"threshold {described['threshold']:.4g}: {described['threshold_source']}")
    print(f"crops: {described['crops_source']}")
    print("API key required (all routes but /health)" if key else "no API key set: anyone who can connect may call it")
    print(f"frames over {config.max_pixels} pixels refused undecoded (--max-pixels)")
    serve(engine, config, key)
    return 0
