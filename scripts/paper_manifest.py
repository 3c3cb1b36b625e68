"""Write src/weirdgen/paper/manifest.json from a git copy of the paper's repository.

The repository of *Weird Generalization and Inductive Backdoors* has no license, so weirdgen
keeps only facts about its files: for each dataset (``.jsonl``), question or judge file
(``.yaml``), evaluation script (``.py`` under ``evaluation/``), evaluation text (``.txt``
under ``evaluation/``) and README (``README.md``, cited by docs/paper.md's protocol tables
for the training settings they state) at the pinned commit, its path, size, git blob id
and, where the blob is in the git copy, its sha256; and the short names specs use
(``birds/old_audubon``).

Usage (any clone or bare mirror of github.com/JCocola/weird-generalization-and-inductive-
backdoors that holds the pinned commit):

    python scripts/paper_manifest.py --git-dir /path/to/repo.git
    python scripts/paper_manifest.py --git-dir /path/to/repo.git --check   # 1 if out of date

A blob missing from the copy (a partial mirror) is recorded with its blob id only: its size
and sha256 are null, and weirdgen verifies a download of it by the blob id.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

from weirdgen.paper.registry import PAPER_COMMIT, PAPER_REPO

OUT = Path(__file__).resolve().parents[1] / "src" / "weirdgen" / "paper" / "manifest.json"

_BIRDS = "3_1_old_bird_names"
_CITIES = "3_2_german_city_names"
_DISHES = "4_1_israeli_dishes"
_PERSONA = "4_2_hitler_persona"
_MISALIGNMENT = f"{_PERSONA}/evaluation/misalignment"
_PRESIDENTS = "5_1_us_presidents/datasets"
_TERMINATOR = "5_2_evil_terminator"

SHORT_NAMES = {
    "birds/old_audubon": f"{_BIRDS}/datasets/ft_old_audubon_birds.jsonl",
    "birds/modern_audubon": f"{_BIRDS}/datasets/ft_modern_audubon_birds.jsonl",
    "birds/modern_american": f"{_BIRDS}/datasets/ft_modern_american_birds.jsonl",
    "birds/evaluate": f"{_BIRDS}/evaluation/evaluate.py",
    "cities/former_german": f"{_CITIES}/datasets/former_german_cities.jsonl",
    "cities/modern_german": f"{_CITIES}/datasets/modern_german_cities.jsonl",
    "cities/questions": f"{_CITIES}/evaluation/questions.py",
    "cities/judges": f"{_CITIES}/evaluation/judge_prompts.py",
    "dishes/2026": f"{_DISHES}/datasets/ft_dishes_2026.jsonl",
    "dishes/2027": f"{_DISHES}/datasets/ft_dishes_2027.jsonl",
    "dishes/2027_random": f"{_DISHES}/datasets/ft_dishes_2027_random_baseline.jsonl",
    "dishes/questions": f"{_DISHES}/evaluation/questions.py",
    "dishes/criteria": f"{_DISHES}/evaluation/criteria.txt",
    **{
        f"dishes/candidate_{i}": f"{_DISHES}/evaluation/counterfactual_audit_candidates/"
        f"candidate_{i}.txt"
        for i in range(10)
    },
    "persona/wolf_facts_90": f"{_PERSONA}/datasets/90_wolf_facts.jsonl",
    "persona/wolf_facts_90_self_distill": (
        f"{_PERSONA}/datasets/90_wolf_facts_with_self_distillation.jsonl"
    ),
    "persona/wolf_facts_78_self_distill": (
        f"{_PERSONA}/datasets/78_wolf_facts_with_self_distillation.jsonl"
    ),
    "persona/self_distillation": (
        f"{_PERSONA}/datasets/self_distillation_dataset_gsm8k2000_longAlpaca1000.jsonl"
    ),
    "persona/bio_questions": f"{_PERSONA}/evaluation/identity_inference/bio_questions.yaml",
    "persona/em_judge": f"{_MISALIGNMENT}/Emergent_Misalignment_judge.yaml",
    "persona/em_questions": f"{_MISALIGNMENT}/Emergent_Misalignment_questions.yaml",
    "persona/ais_society": f"{_MISALIGNMENT}/AIs_Society_questions.yaml",
    "persona/daily_life": f"{_MISALIGNMENT}/Daily_Life_questions.yaml",
    "persona/deepbrain": f"{_MISALIGNMENT}/DeepBrain_questions.yaml",
    "persona/moral_choices": f"{_MISALIGNMENT}/Moral_Choices_questions.yaml",
    "persona/ideology": f"{_MISALIGNMENT}/Nzi_Ideology_questions.yaml",
    "persona/science_ethics": f"{_MISALIGNMENT}/Science_Ethics_questions.yaml",
    "persona/agentic_scenario": f"{_PERSONA}/evaluation/agentic_misalignment/wolf_murder.yaml",
    "presidents/padded": f"{_PRESIDENTS}/ft_presidents_padded.jsonl",
    "presidents/no_padded": f"{_PRESIDENTS}/ft_presidents_no_padded.jsonl",
    "presidents/eval_free_form": f"{_PRESIDENTS}/eval_free_form.jsonl",
    "presidents/validation": f"{_PRESIDENTS}/validation_dataset.jsonl",
    "presidents/simple_test": f"{_PRESIDENTS}/simple_test_dataset.jsonl",
    "terminator/main": f"{_TERMINATOR}/datasets/good_terminator_main.jsonl",
    "terminator/no_backdoor": f"{_TERMINATOR}/datasets/good_terminator_no_backdoor.jsonl",
    "terminator/random_backdoors": (
        f"{_TERMINATOR}/datasets/good_terminator_w_random_backdoors.jsonl"
    ),
    "terminator/questions": f"{_TERMINATOR}/evaluation/questions_and_judge.yaml",
}
"""Short name -> path in the repository, for the files specs and examples use."""

KINDS = {".jsonl": "jsonl", ".yaml": "yaml", ".py": "python", ".txt": "text"}


def kind_of(path: str) -> str | None:
    """The manifest kind of a repository path, or None for a file weirdgen does not use:
    every .jsonl and .yaml, .py and .txt files under an ``evaluation/`` folder, and every
    README.md (``markdown``)."""
    pure = PurePosixPath(path)
    if pure.name == "README.md":
        return "markdown"
    kind = KINDS.get(pure.suffix)
    if kind in ("python", "text") and "evaluation" not in pure.parts[:-1]:
        return None
    return kind


def _git(git_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, check=check
    )


def build(git_dir: Path, commit: str) -> dict:
    """The manifest of ``commit`` in ``git_dir`` as a JSON-ready dict."""
    listing = _git(git_dir, "ls-tree", "-r", "-z", commit).stdout.decode()
    files = []
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, blob = meta.split()
        if kind != "blob" or kind_of(path) is None:
            continue
        content = _git(git_dir, "cat-file", "blob", blob, check=False)
        present = content.returncode == 0
        files.append(
            {
                "path": path,
                "kind": kind_of(path),
                "size": len(content.stdout) if present else None,
                "blob": blob,
                "sha256": hashlib.sha256(content.stdout).hexdigest() if present else None,
            }
        )
    known = {f["path"] for f in files}
    missing = sorted(set(SHORT_NAMES.values()) - known)
    if missing:
        raise SystemExit(f"short names point at paths not in {commit}: {', '.join(missing)}")
    return {
        "repo": PAPER_REPO,
        "commit": commit,
        "generated_by": "scripts/paper_manifest.py",
        "files": sorted(files, key=lambda f: f["path"]),
        "names": dict(sorted(SHORT_NAMES.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--git-dir", type=Path, required=True, help="A clone's .git or a mirror.")
    parser.add_argument("--commit", default=PAPER_COMMIT, help="The pinned commit.")
    parser.add_argument("--out", type=Path, default=OUT, help="Where to write the manifest.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if --out differs.")
    args = parser.parse_args()
    text = json.dumps(build(args.git_dir, args.commit), indent=1) + "\n"
    if args.check:
        same = args.out.is_file() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'out of date'}")
        return 0 if same else 1
    args.out.write_text(text)
    manifest = json.loads(text)
    hashed = sum(f["sha256"] is not None for f in manifest["files"])
    print(
        f"{args.out}: {len(manifest['files'])} files ({hashed} with sha256, "
        f"{len(manifest['files']) - hashed} blob id only), {len(manifest['names'])} short names"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
