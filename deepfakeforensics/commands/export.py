"""``dff export RUN_OR_FILE --out DIR [--push owner/name]``: a detector as a package anyone can load.

The package (``packages.export_package``) is ``model.safetensors``, ``config.json`` (model, preprocessing, crops,
windows, the validation threshold and its rule, the versions that wrote it) and a ``README.md`` model card; ``dff
predict/evaluate/serve --weights DIR`` (or ``hf://owner/name`` once pushed) use it as the run was used.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument(
        "weights",
        metavar="RUN_OR_FILE",
        help="a run folder (its best.pt, thresholds.json, config.json), a project checkpoint, a released detector's "
        "file, the MesoNet authors' .h5 (with --model) or a package",
    )
    p.add_argument("--out", required=True, help="the package folder to write (new or empty, or a package to replace)")
    p.add_argument("--model", default=None, help="registered model name (needed for a Keras .h5 file only)")
    p.add_argument(
        "--metrics-csv",
        default=None,
        help="metrics.csv of dff evaluate with rows of this run: its results (and their protocol) go into the card",
    )
    p.add_argument("--license", default="other", help="licence id of the model card's header (Hugging Face ids)")
    p.add_argument(
        "--push",
        default=None,
        metavar="OWNER/NAME",
        help="then upload the package to this Hugging Face model repository (needs huggingface_hub and a login)",
    )
    p.add_argument("--private", action="store_true", help="with --push: create the repository private")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.packages import export_package, push_package, read_package

    out = export_package(args.weights, args.out, model=args.model, metrics_csv=args.metrics_csv, license=args.license)
    package = read_package(out)
    t = package.threshold
    threshold = f"threshold {t.value:.4f} ({t.rule} on {t.split}, {t.aggregation})" if t else "no validation threshold"
    print(f"{args.weights} -> {out}: {package.model}, crops {package.crop_profile}, {threshold}")
    if args.push:
        url = push_package(out, args.push, private=args.private)
        print(f"pushed to {args.push}: {url} (load it with --weights hf://{args.push})")
    return 0
