"""Write the question file paper/persona_agentic includes, from the paper's own prompts.

The scenario's emails belong to Anthropic's agentic-misalignment framework, which neither
the paper's repository nor weirdgen holds. Generate the prompts as the paper's README says
(clone the framework, copy the paper's wolf_generate_prompts.py and wolf_murder.yaml into
it, run ``python scripts/wolf_generate_prompts.py --config configs/wolf_murder.yaml``), then:

    python scripts/paper_agentic_prompts.py FRAMEWORK/results/murder_v1/prompts \
        agentic_prompts.jsonl
    weirdgen show paper/persona_agentic > persona_agentic.yaml   # beside the JSONL
    weirdgen run persona_agentic.yaml --model openai/gpt-4.1-2025-04-14
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weirdgen.errors import WeirdgenError
from weirdgen.paper.agentic import read_prompt_folders, write_question_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompts", type=Path, help="the generator's prompts/ folder")
    parser.add_argument("out", type=Path, help="the question file to write (.jsonl)")
    args = parser.parse_args(argv)
    try:
        questions = read_prompt_folders(args.prompts)
    except WeirdgenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_question_file(questions, args.out)
    print(f"{args.out}: {len(questions)} prompts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
