"""``dff index ROOT --dataset NAME --out labels/NAME.csv``: write a dataset's video index and its failures."""

from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from deepfakeforensics.indexing import IndexResult


DATASETS = [
    "ffpp",
    "celebdf",
    "deeperforensics",
    "dfdc",
    "folder",
    "wilddeepfake",
    "df40",
    "dfd",
    "dfdcp",
    "ffiw",
    "celebdfpp",
    "fakeavceleb",
]

# CLI option -> indexer keyword; each is passed only when given, and only to an indexer that accepts it.
_OPTIONS = {
    "splits": "splits_dir",
    "methods": "methods",
    "compressions": "compressions",
    "ffpp_root": "ffpp_root",
    "ffpp_compression": "ffpp_compression",
    "variants": "variants",
    "lists": "lists_dir",
    "test_list": "test_list",
    "group_by": "group_by",
    "leak": "leak",
    "link_actors": "link_actors",
    "labels_csv": "labels_csv",
    "seed": "seed",
    "fake_audio_reals": "fake_audio_reals",
    "celebdf_root": "celebdf_root",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="dataset root (for --dataset folder also a CSV of path,label)")
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument(
        "--out",
        help="index CSV to write (default labels/<dataset>.csv); failures go to <out>_failures.csv, rewritten each run",
    )
    parser.add_argument(
        "--ratios",
        type=float,
        nargs=3,
        metavar=("TRAIN", "VAL", "TEST"),
        help="shares of the seeded group split (defaults: 0.7 0.15 0.15; DFDC and Celeb-DF train/val)",
    )
    parser.add_argument("--seed", type=int, help="seed of the group split (default 0)")
    ff = parser.add_argument_group("FaceForensics++")
    ff.add_argument("--splits", metavar="DIR", help="folder of the official train/val/test.json (default ROOT/splits)")
    ff.add_argument("--methods", nargs="+", help="manipulation methods to index (default all found)")
    ff.add_argument("--compressions", nargs="+", help="compressions to index, e.g. c23 (default all found)")
    df = parser.add_argument_group("DeeperForensics-1.0")
    df.add_argument("--ffpp-root", help="FaceForensics++ root: its c23 originals are the real class")
    df.add_argument("--ffpp-compression", help="which FF++ originals to use as reals (default c23)")
    df.add_argument("--variants", nargs="+", help="manipulated_videos variants to index (default all found)")
    df.add_argument("--lists", metavar="DIR", help="folder of the official lists (default ROOT/lists/splits)")
    df.add_argument("--link-actors", action="store_true", default=None, help="also group fakes by driving actor")
    cd = parser.add_argument_group("Celeb-DF")
    cd.add_argument("--test-list", help="official test list (default ROOT/List_of_testing_videos.txt)")
    cd.add_argument(
        "--group-by", choices=["celebrity", "identity", "video"], help="grouping (default celebrity; DFD: identity)"
    )
    cd.add_argument(
        "--leak",
        choices=["drop", "test", "error"],
        help="non-test videos sharing a group with the test list: drop them (default), move them to test, or fail",
    )
    parser.add_argument(
        "--fake-audio-reals",
        action="store_true",
        default=None,
        help="FakeAVCeleb: index category B (real video, cloned voice) as real",
    )
    parser.add_argument("--celebdf-root", help="DF40: preprocessed Celeb-DF v2 whose test-list reals are the reals")
    fo = parser.add_argument_group("plain folder")
    fo.add_argument("--labels-csv", help="CSV of path,label[,group,method,split] instead of real/ and fake/ folders")


class _UsageError(Exception):
    """An option that does not fit the dataset chosen (printed, exit status 2)."""


def _literal_choices(indexer: Callable[..., object], name: str) -> tuple[str, ...]:
    """The values parameter `name` of `indexer` takes when its annotation is a `Literal` (e.g. a dataset's groupings:
    DFD groups by identity or video, Celeb-DF also by celebrity); empty for any other annotation."""
    try:
        hint = typing.get_type_hints(indexer).get(name)
    except (NameError, TypeError):  # an annotation that cannot be resolved here: no choices to check
        return ()
    return tuple(typing.get_args(hint)) if typing.get_origin(hint) is Literal else ()


def _indexer_options(args: argparse.Namespace, indexer: Callable[..., object]) -> dict[str, object]:
    """The indexer's keyword arguments from the options given (an option left out keeps the indexer's default).

    Raises:
        _UsageError: an option the indexer does not take, or a parameter it requires that was not given.
    """
    accepted = inspect.signature(indexer).parameters
    options: dict[str, object] = {}
    for opt, kw in _OPTIONS.items():
        value = getattr(args, opt)
        if value is None:
            continue
        if kw not in accepted:
            raise _UsageError(f"--{opt.replace('_', '-')} does not apply to --dataset {args.dataset}")
        choices = _literal_choices(indexer, kw)
        if choices and value not in choices:
            raise _UsageError(
                f"--{opt.replace('_', '-')} {value} does not apply to --dataset {args.dataset}: it takes "
                f"{', '.join(choices)}"
            )
        options[kw] = value
    if args.ratios is not None:
        options["ratios"] = dict(zip(["train", "val", "test"], args.ratios, strict=True))
    for name, param in list(accepted.items())[1:]:
        if param.default is inspect.Parameter.empty and name not in options:
            flag = next((o for o, kw in _OPTIONS.items() if kw == name), name).replace("_", "-")
            raise _UsageError(f"--{flag} is required for --dataset {args.dataset}")
    return options


def _print_report(result: IndexResult, split_table: str, out: Path, root: Path, failures_csv: Path) -> None:
    """Print what was indexed: videos and groups, `split_table` and videos per method, the first failures."""
    videos = result.videos
    print(f"{out}: {len(videos)} videos, {videos['group'].nunique()} groups (root {root})")
    if videos.attrs.get("layout"):
        print(f"layout matched: {videos.attrs['layout']}")
    if len(videos):
        print(split_table)
        print(videos.groupby(["method", "label"]).size().rename("videos").to_string())
    if result.failures:
        print(f"{len(result.failures)} failures (see {failures_csv}), e.g.:")
        for path, reason in result.failures[:5]:
            print(f"  {path}: {reason}")
    else:
        print("no failures")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics._io import append_failures, save_table
    from deepfakeforensics.indexing import INDEXERS, split_summary

    indexer = INDEXERS[args.dataset]
    try:
        options = _indexer_options(args, indexer)
    except _UsageError as e:
        print(f"dff index: {e}")
        return 2
    result = indexer(args.root, **options)
    out = Path(args.out or f"labels/{args.dataset}.csv")
    root = Path(args.root)
    if args.dataset == "folder" and root.suffix.lower() == ".csv":
        root = root.parent
    save_table(result.videos, out, root=root, dataset=args.dataset)
    # A rerun replaces the failures of the previous run rather than appending to them.
    failures_csv = out.with_name(out.stem + "_failures.csv")
    failures_csv.unlink(missing_ok=True)
    append_failures(failures_csv, result.failures)
    split_table = split_summary(result.videos).to_string() if len(result.videos) else ""
    _print_report(result, split_table, out, root, failures_csv)
    return 0
