"""The ``hf`` backend: Hugging Face causal LMs finetuned with PEFT and sampled in batches.

transformers and peft are imported only when a backend is made, so that ``import weirdgen``
works without them (``pip install 'weirdgen[hf]'``).
"""

from weirdgen.backends.hf.backend import HfBackend
from weirdgen.backends.hf.chat import IGNORE, ChatTokens, encode_chat, strip_thinking

__all__ = [
    "IGNORE",
    "ChatTokens",
    "HfBackend",
    "encode_chat",
    "strip_thinking",
]
