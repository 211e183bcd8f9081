"""Check every released detector against its authors' own code: P(fake) of their model and ours on the same input.

Usage (the authors' repositories are NOT part of this project: clone them anywhere and point at them):
    .venv/bin/python benchmarks/released.py --repo sbi=PATH/SelfBlendedImages --repo deepfakebench=PATH/DeepfakeBench \
        --repo selim=PATH/dfdc_deepfake_challenge --repo polimi=PATH/icpr2020dfdc [--names sbi_efficientnet_b4 ...]

For each registered released detector, its check (``benchmarks/released_checks/<repo>.py``) builds the authors' model
class from their repository with seeded random weights and random BatchNorm statistics, saves it exactly as their
training code saves a checkpoint, loads that file here by its layout alone (``load_released(path)``: the layout
recognition is checked too) and compares P(fake) on the same inputs. The authors' code is imported at run time from
the given folders, never copied into this project (their licences: SBI non-commercial, DeepfakeBench CC BY-NC, polimi
GPL-3.0, selimsef MIT). Prints one row per detector with the largest |P(fake) ours - P(fake) theirs|; exit status 1
when one is above --tolerance (default 1e-5).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHECKS = {
    "sbi": "sbi",
    "deepfakebench": "deepfakebench",
    "selim": "selim",
    "polimi": "polimi",
    "effort": "effort",
    "gend": "gend",
}


def parse_repos(values: list[str]) -> dict[str, Path]:
    repos = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or key not in CHECKS:
            raise SystemExit(f"--repo {value!r}: expected NAME=DIR with NAME one of {', '.join(CHECKS)}")
        if not Path(path).is_dir():
            raise SystemExit(f"--repo {value!r}: {path} is not a folder")
        repos[key] = Path(path)
    return repos


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", action="append", default=[], help="NAME=DIR of an authors' repository (repeatable)")
    p.add_argument("--names", nargs="*", default=None, help="only these released names")
    p.add_argument("--tolerance", type=float, default=1e-5)
    args = p.parse_args(argv)
    repos = parse_repos(args.repo)
    if not repos:
        raise SystemExit("give at least one --repo NAME=DIR")
    rows = []
    for key, repo in repos.items():
        check = importlib.import_module(f"released_checks.{CHECKS[key]}")
        names = None if args.names is None else [n for n in args.names if n in check.NAMES]
        if names == []:
            continue
        start = time.perf_counter()
        for row in check.check(repo, names):
            rows.append({**row, "repo": check.REPO, "seconds": time.perf_counter() - start})
            start = time.perf_counter()
    print(f"{'released name':<28}{'max |dP(fake)|':>16}{'inputs':>8}  {'repo':<36}note")
    worst = 0.0
    for r in rows:
        worst = max(worst, float(r["max_abs_diff"]))
        print(f"{r['name']:<28}{r['max_abs_diff']:>16.2e}{r['n_inputs']:>8}  {r['repo']:<36}{r.get('note', '')}")
    ok = worst <= args.tolerance
    print(f"{len(rows)} detectors; largest difference {worst:.2e} ({'within' if ok else 'ABOVE'} {args.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
