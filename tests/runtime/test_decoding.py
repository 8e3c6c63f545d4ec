"""The greedy loop (shared prefix, continuous batching, packed output layer) replies as ``model.generate`` does.

The reference is Hugging Face ``generate`` on each prompt alone (no padding, no batch): what the loop must
reproduce whatever batch a row decodes in, whichever rows joined or left around it.
"""

from __future__ import annotations

import pytest

from promptyard.core.lookups import load_model
from promptyard.runtime import decoding
from promptyard.runtime.inference import generate

SHARED = "You are a careful assistant. Answer the question below in one short sentence.\n\nQuestion: "
QUESTIONS = ["why is the sky blue?", "what is two plus two?", "name a colour",
             "which film won the most awards in the history of cinema, and why do people still talk about it?",
             "hi", "is a tomato a fruit or a vegetable, and does the answer change in a kitchen?", "ok?"]


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-causal")


def encode(loaded, texts):
    return [loaded.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def reference(model, encoded, max_new_tokens, eos, pad):
    """``generate`` on each prompt alone: the new tokens, cut after the first EOS."""
    import torch

    out = []
    for seq in encoded:
        with torch.inference_mode():
            result = model.generate(input_ids=torch.tensor([seq]),
                                    attention_mask=torch.ones(1, len(seq), dtype=torch.long),
                                    max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                    eos_token_id=sorted(eos) if eos else None)
        new = result[0, len(seq):].tolist()
        cut = next((i + 1 for i, t in enumerate(new) if t in eos), len(new))
        out.append(new[:cut])
    return out


def an_eos_mid_reply(model, encoded, pad):
    """A token that some (not all) replies produce a few tokens in: so rows end at different steps."""
    replies = reference(model, encoded, 8, set(), pad)
    counts: dict[int, int] = {}
    for reply in replies:
        for t in set(reply[1:6]):
            counts[t] = counts.get(t, 0) + 1
    return min(counts, key=lambda t: (abs(counts[t] - len(replies) / 2), t))


@pytest.mark.parametrize("shared", [True, False], ids=["shared-prefix", "no-prefix"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_greedy_equals_generate_alone(tiny, shared, batch_size):
    texts = [SHARED + q for q in QUESTIONS] if shared else QUESTIONS
    encoded = encode(tiny, texts)
    assert (decoding.common_prefix(encoded) >= decoding.MIN_PREFIX) is shared
    pad = tiny.tokenizer.pad_token_id
    eos = {an_eos_mid_reply(tiny.model, encoded, pad)}
    want = reference(tiny.model, encoded, 9, eos, pad)
    assert len({len(r) for r in want}) > 1, "rows should end at different steps"
    got = decoding.greedy(tiny.model, encoded, max_new_tokens=9, batch_size=batch_size, eos=eos, pad=pad)
    assert got == want


def test_a_long_queue_through_few_slots(tiny, monkeypatch):
    """Many prompts through two slots: rows are written into finished ones, the cache widens for longer
    prompts and sheds the columns no row attends to any more."""
    texts = [SHARED + q for q in QUESTIONS * 3] + [SHARED + q + " and why?" * 3 * i for i, q in enumerate(QUESTIONS)]
    encoded = encode(tiny, texts)
    pad = tiny.tokenizer.pad_token_id
    eos = {an_eos_mid_reply(tiny.model, encoded, pad)}
    seen = {"compact": 0, "widen": 0}
    for name in seen:
        real = getattr(decoding._Batch, name if name == "compact" else "_widen")

        def counted(*args, real=real, name=name, **kwargs):
            seen[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(decoding._Batch, name if name == "compact" else "_widen", counted)
    got = decoding.greedy(tiny.model, encoded, max_new_tokens=9, batch_size=2, eos=eos, pad=pad)
    assert got == reference(tiny.model, encoded, 9, eos, pad)
    assert seen["compact"] >= 2 and seen["widen"] >= 1


def test_one_new_token_and_none(tiny):
    encoded = encode(tiny, [SHARED + q for q in QUESTIONS[:3]])
    pad = tiny.tokenizer.pad_token_id
    assert decoding.greedy(tiny.model, encoded, max_new_tokens=1, batch_size=2, eos=set(), pad=pad) == \
        reference(tiny.model, encoded, 1, set(), pad)
    assert decoding.greedy(tiny.model, encoded, max_new_tokens=0, batch_size=2, eos=set(), pad=pad) == [[], [], []]
    assert decoding.greedy(tiny.model, [], max_new_tokens=4, batch_size=2, eos=set(), pad=pad) == []


def test_generate_goes_through_the_loop_and_matches_hf(tiny, monkeypatch):
    texts = [SHARED + q for q in QUESTIONS]
    calls = []
    real = decoding.greedy
    monkeypatch.setattr(decoding, "greedy", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = generate(tiny, texts, max_new_tokens=6, batch_size=4)
    assert calls == [1]
    tok = tiny.tokenizer
    want = [tok.decode(r, skip_special_tokens=True)
            for r in reference(tiny.model, encode(tiny, texts), 6, {tok.eos_token_id}, tok.pad_token_id)]
    assert got == want


def test_a_lora_adapter_decodes_through_the_loop():
    from peft import LoraConfig, TaskType, get_peft_model

    loaded = load_model("tiny-causal")
    loaded.model = get_peft_model(loaded.model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, init_lora_weights=False))
    assert decoding.unsupported(loaded.model, {"do_sample": False}) is None
    encoded = encode(loaded, [SHARED + q for q in QUESTIONS])
    pad = loaded.tokenizer.pad_token_id
    got = decoding.greedy(loaded.model, encoded, max_new_tokens=5, batch_size=3, eos=set(), pad=pad)
    assert got == reference(loaded.model, encoded, 5, set(), pad)


def test_what_the_loop_leaves_to_generate(tiny):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    assert decoding.unsupported(tiny.model, {"do_sample": False}) is None
    assert "do_sample" in decoding.unsupported(tiny.model, {"do_sample": True})
    assert "num_beams" in decoding.unsupported(tiny.model, {"do_sample": False, "num_beams": 2})
    assert "repetition_penalty" in decoding.unsupported(tiny.model, {"repetition_penalty": 1.3})
    tiny.model.generation_config.no_repeat_ngram_size = 2
    try:
        assert "generation config no_repeat_ngram_size" in decoding.unsupported(tiny.model, {})
    finally:
        tiny.model.generation_config.no_repeat_ngram_size = 0
    prompt_tuned = get_peft_model(load_model("tiny-causal").model,
                                  PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=2))
    assert "prompt-learning" in decoding.unsupported(prompt_tuned, {"do_sample": False})


def test_sampling_and_beams_still_go_to_generate(tiny, monkeypatch):
    monkeypatch.setattr(decoding, "greedy", lambda *a, **k: pytest.fail("the greedy loop cannot sample"))
    import torch

    torch.manual_seed(0)
    assert len(generate(tiny, QUESTIONS[:2], max_new_tokens=3, do_sample=True, top_k=5)) == 2
    assert len(generate(tiny, QUESTIONS[:2], max_new_tokens=3, num_beams=2)) == 2


@pytest.mark.parametrize("body", [True, False], ids=["every-layer", "output-layer"])
def test_packed_weights_compute_the_same_and_are_put_back(body):
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    loaded = load_model("tiny-causal")
    model = get_peft_model(loaded.model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, init_lora_weights=False))
    ids = torch.tensor([encode(loaded, [SHARED])[0][:6]] * 3)
    with torch.inference_mode():
        want = model(input_ids=ids).logits
        with decoding.packed_weights(model, rows=3, body=body):
            patched = [m for m in model.modules() if "forward" in m.__dict__]
            if torch.backends.mkldnn.is_available() and torch.backends.mkl.is_available():
                linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
                # every fp32 linear layer (q k v o gate up down of 2 blocks, LoRA's A and B), or the head alone
                assert len(patched) == (len(linears) if body else 1) and len(linears) == 1 + 2 * 7 + 2 * 2 * 2
            assert torch.allclose(model(input_ids=ids).logits, want, atol=1e-5)  # 18 rows: the own weight
            assert torch.allclose(model(input_ids=ids[:, :1]).logits, want[:, :1], atol=1e-5)  # 3: the packed one
        assert not [m for m in model.modules() if "forward" in m.__dict__]
        with pytest.raises(RuntimeError), decoding.packed_weights(model, rows=3):
            raise RuntimeError("boom")
        assert not [m for m in model.modules() if "forward" in m.__dict__]


def test_threads_generating_on_one_model_get_their_own_replies(tiny):
    """Packing patches the model's layers: two calls at once on one model take turns and leave it unpatched."""
    import threading

    pad = tiny.tokenizer.pad_token_id
    jobs = [encode(tiny, [SHARED + q for q in QUESTIONS]), encode(tiny, QUESTIONS[::-1])]
    want = [reference(tiny.model, encoded, 40, set(), pad) for encoded in jobs]
    got: dict[int, list] = {}

    def run(i):
        got[i] = decoding.greedy(tiny.model, jobs[i], max_new_tokens=40, batch_size=2, eos=set(), pad=pad)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[0], got[1]] == want
    assert not [m for m in tiny.model.modules() if "forward" in m.__dict__]


def test_weights_offloaded_by_accelerate_are_not_packed():
    """A module whose forward accelerate replaced (offloading hooks load the weight there) is left alone."""
    import torch
    from accelerate.hooks import ModelHook, add_hook_to_module

    loaded = load_model("tiny-causal")
    add_hook_to_module(loaded.model.model.layers[0].mlp.up_proj, ModelHook())
    with torch.inference_mode(), decoding.packed_weights(loaded.model, rows=2):
        assert not [m for m in loaded.model.modules() if "forward" in m.__dict__ and not hasattr(m, "_hf_hook")]


def test_a_batch_size_below_one_is_a_clear_error(tiny):
    from promptyard.core.errors import EvalError

    with pytest.raises(EvalError, match="batch size must be at least 1, got 0"):
        generate(tiny, QUESTIONS[:2], max_new_tokens=3, batch_size=0)


def test_common_prefix():
    assert decoding.common_prefix([]) == 0
    assert decoding.common_prefix([[1, 2, 3], [1, 2, 4]]) == 2
    assert decoding.common_prefix([[1, 2], [1, 2, 3]]) == 1  # each keeps one token of its own
    assert decoding.common_prefix([[5]]) == 0


@pytest.mark.real_model
def test_smollm2_chat_replies_equal_generate_alone():
    """Real weights and a real chat template, whose system turn is the shared prefix."""
    loaded = load_model("smollm2-135m")
    tok = loaded.tokenizer
    texts = [tok.apply_chat_template([{"role": "user", "content": f"Is this review positive or negative? {r}"}],
                                     tokenize=False, add_generation_prompt=True)
             for r in ("A gorgeous, moving film.", "Dull and far too long; I left early.", "It was fine.",
                       "The best thing I have seen this year, with a cast that makes every scene count.")]
    encoded = encode(loaded, texts)
    assert decoding.common_prefix(encoded) >= 20  # the system turn and the question
    eos = {tok.eos_token_id}
    want = reference(loaded.model, encoded, 12, eos, tok.pad_token_id)
    assert decoding.greedy(loaded.model, encoded, max_new_tokens=12, batch_size=3, eos=eos,
                           pad=tok.pad_token_id) == want


def test_a_tokenizer_without_eos_stops_at_the_models_eos_on_both_paths():
    """The loop stops at the generation config's EOS when the tokenizer has none; the ``generate`` fallback must
    too (it passed ``eos_token_id=None``, which stops at nothing, so the two paths gave different replies)."""
    loaded = load_model("tiny-causal")
    tok, model = loaded.tokenizer, loaded.model
    texts = [SHARED + q for q in QUESTIONS[:4]]
    encoded = encode(loaded, texts)
    pad = tok.pad_token_id
    model.generation_config.eos_token_id = an_eos_mid_reply(model, encoded, pad)
    tok.eos_token = None
    want = [tok.decode(r, skip_special_tokens=True)
            for r in reference(model, encoded, 8, {model.generation_config.eos_token_id}, pad)]
    assert generate(loaded, texts, max_new_tokens=8) == want
    # a setting the loop does not know sends the call to model.generate (output_scores changes no reply)
    assert decoding.unsupported(model, {"do_sample": False, "output_scores": False}) is not None
    assert generate(loaded, texts, max_new_tokens=8, output_scores=False) == want


def test_the_generate_fallback_drops_the_padding_after_a_rows_eos():
    """A tokenizer without a pad token pads with id 0, which in GPT-2-style vocabularies is a plain token ("!"):
    a row of a ``generate`` batch that ends before the others must not get it appended to its reply."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from promptyard.core.protocols import LoadedModel

    words = ["!", "<eos>"] + [f"w{i}" for i in range(62)]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="w0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>")
    assert tok.pad_token_id is None and tok.decode([0], skip_special_tokens=True) == "!"
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, initializer_range=0.3)).eval()
    texts = [" ".join(f"w{(7 * i + 3 * j) % 60 + 2}" for j in range(3 + i)) for i in range(6)]
    loaded = LoadedModel(model=model, tokenizer=tok, ref="tiny-wordlevel", kind="causal", content_hash="")
    encoded = encode(loaded, texts)
    eos = an_eos_mid_reply(model, encoded, 0)
    tok.add_special_tokens({"eos_token": words[eos]})
    want = [tok.decode(r, skip_special_tokens=True) for r in reference(model, encoded, 8, {eos}, 0)]
    assert len({len(w.split()) for w in want}) > 1, "rows should end at different steps"
    assert generate(loaded, texts, max_new_tokens=8, batch_size=6) == want  # the greedy loop
    assert generate(loaded, texts, max_new_tokens=8, batch_size=6, output_scores=False) == want  # model.generate


def test_a_recurrent_model_goes_to_generate():
    """RWKV's forward takes no key/value cache (``**kwargs`` swallows it) and keeps a state of its own: the loop
    would run every step without the prompt, so it must be left to ``generate``."""
    import torch
    from transformers import RwkvConfig, RwkvForCausalLM

    torch.manual_seed(0)
    model = RwkvForCausalLM(RwkvConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2)).eval()
    assert "recurrent state" in decoding.unsupported(model, {"do_sample": False})


def test_a_model_without_position_ids_goes_to_generate():
    """MPT's ALiBi biases by cache column: a row padded after the shared prefix would see the prefix further
    away than alone (with scaled weights 5 of 11 rows of a tiny MPT replied otherwise); generate() must take it."""
    import torch
    from transformers import MptConfig, MptForCausalLM

    torch.manual_seed(0)
    model = MptForCausalLM(MptConfig(vocab_size=97, d_model=32, n_heads=4, n_layers=2)).eval()
    assert "position ids" in decoding.unsupported(model, {"do_sample": False})


def test_scoring_in_another_thread_does_not_break_a_generation(tiny):
    """score_choices swaps the model's output layer for a gathering one while it runs: a greedy call on the same
    model in another thread ran through it (an IndexError, or another row's logits) until both took the model's
    lock."""
    import threading

    from promptyard.runtime.inference import score_choices

    pad = tiny.tokenizer.pad_token_id
    encoded = encode(tiny, [SHARED + q for q in QUESTIONS[:4]])
    want = reference(tiny.model, encoded, 30, set(), pad)
    done, scored = threading.Event(), []

    def score():
        while not done.is_set():
            scored.append(score_choices(tiny, ["is it good?", "hello"], ["yes", "no"]))

    scorer = threading.Thread(target=score)
    scorer.start()
    try:
        got = decoding.greedy(tiny.model, encoded, max_new_tokens=30, batch_size=2, eos=set(), pad=pad)
    finally:
        done.set()
        scorer.join()
    assert got == want
    assert all(s == scored[0] for s in scored)
