"""The tidy samples table: one row per sampled answer, the contract between run, stats and report.

Columns (in this order), then one column per scorer output:

- ``experiment`` (str): spec name.
- ``condition`` (str), ``role`` (str: 'target' or 'control').
- ``seed`` (int): the finetuning/sampling seed; the unit of replication.
- ``model_key`` (str): content key of the (finetuned) model that answered.
- ``eval_set`` (str), ``question_id`` (str), ``paraphrase_index`` (int).
- ``prompt`` (str): the paraphrase, the user message the model answered.
- ``sample_index`` (int): 0..n-1 within (condition, seed, prompt).
- ``answer`` (str).

Then ``messages`` (str): the JSON list of every message sent (system prompt and earlier
turns included); ``step`` (nullable int): optimizer steps of the model that answered (0 for
the base model, empty where not recorded); ``final`` (bool): the model at the end of its
finetuning (or the base model), False for the earlier checkpoints a recipe's ``save_steps``
keeps; ``finish_reason`` (nullable str): why the answer ended where the backend says
(``stop``, or ``length`` for an answer cut at max_tokens; the openai backend says, local
backends do not); and one column per question metadata key (a trigger value, a year, a
held-out flag; empty where a question lacks the key).

Scorer columns: each scorer adds its main value as the column ``name`` and its other values
as ``name_<value>`` (see ``weirdgen scorers`` for each kind's values). For example an
``organism_era`` scorer named ``old`` adds ``old`` (float: 1.0 old-era answer, 0.0 new-era,
by its parts for a blend, NaN where neither), ``old_valid`` (bool: exactly an answer the
world knows for the question), ``old_blend`` (1.0 for an answer made of pieces of known
answers) and ``old_scored`` (bool: known or a blend).
"""

SAMPLE_COLUMNS: tuple[str, ...] = (
    "experiment",
    "condition",
    "role",
    "seed",
    "model_key",
    "eval_set",
    "question_id",
    "paraphrase_index",
    "prompt",
    "sample_index",
    "answer",
)
