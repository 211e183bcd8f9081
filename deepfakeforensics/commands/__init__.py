"""Subcommands of ``dff``: one module per command (``dff demo-data`` is ``commands/demo_data.py``).

Each module exposes ``add_arguments(parser)`` and ``run(args) -> int``; its one-line help lives here, so ``dff --help``
lists every command without importing any of them (``deepfakeforensics.cli`` imports only the command being run).
"""

#: command name -> one-line help
COMMANDS: dict[str, str] = {
    "demo": "Build demo videos, index, extract faces, train and compare models, evaluate, predict; print where it all is.",
    "demo-data": "Build the demo dataset (real and fake face videos in FaceForensics++'s layout) from bundled face photos.",
    "evaluate": "Evaluate and compare trained runs: metrics at frame/window and file level, thresholds from validation, plots.",
    "export": "Export a run or weights file as a package anyone can load (safetensors, config.json, model card); --push to the hub.",
    "export-deepfakebench": "Write a faces manifest's crops as a DeepfakeBench dataset JSON, to compare a run inside DeepfakeBench.",
    "extract": "Detect, track and crop the faces of every video in an index (resumable, shardable, safe to run twice).",
    "import-deepfakebench": "Import a DeepfakeBench dataset JSON as a faces manifest (its frames are the crops): no extraction.",
    "index": "Index a dataset's videos (label, group, leak-free split) into labels/NAME.csv.",
    "landmarks": "Fit dlib's 68 face landmarks on every crop of a faces manifest (for SBI hull masks; non-commercial model).",
    "models": "List the registered models with their parameter count and input size.",
    "predict": "Predict P(fake) for every video and image under a folder (faces detected and tracked as in extraction).",
    "report": "Write a self-contained HTML report of a dff predict CSV (sortable table, face tracks, timelines, heatmaps).",
    "serve": "Serve a trained detector over HTTP (FastAPI): images, videos, batches, heatmaps, metrics; API key, limits.",
    "train": "Train a detector on a faces manifest (frame models on face crops, temporal models on windows of a track).",
}


def module_name(command: str) -> str:
    """The module of a command: ``demo-data`` -> ``deepfakeforensics.commands.demo_data``."""
    return f"{__name__}.{command.replace('-', '_')}"
