"""Assistant-only loss: labels are -100 except on the assistant's tokens (and its <|eot_id|>)."""

from __future__ import annotations

from datasets import Dataset
from trainers.arguments import training_kwargs
from trainers.config import SftConfig
from trainers.heldout import assistant_labels
from trainers.sft import conversations, sft_config
from trl import SFTTrainer

from tests.trainers.conftest import instructions


def _sft_args(cfg: SftConfig, tmp_path, **overrides):
    return sft_config(cfg, training_kwargs(cfg, tmp_path, tmp_path / "ck"), **overrides)


def _supervised_text(tokenizer, ids, labels) -> str:
    return tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])


def test_sft_collator_masks_everything_but_the_assistant(
    tmp_path, tokenizer, tiny_model_dir
) -> None:
    convs = conversations(instructions(8), "train", None)
    cfg = SftConfig(output_dir=str(tmp_path / "out"), packing=False, max_steps=1, max_length=256)
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=_sft_args(cfg, tmp_path),
        train_dataset=Dataset.from_dict({"messages": convs}),
        processing_class=tokenizer,
    )
    rows = [trainer.train_dataset[i] for i in range(3)]
    batch = trainer.data_collator(rows)
    for i, conv in enumerate(convs[:3]):
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        assert _supervised_text(tokenizer, ids, labels) == conv[-1]["content"] + "<|eot_id|>"
        # the system and user turns and the headers are never supervised
        first = labels.index(next(lab for lab in labels if lab != -100))
        assert tokenizer.decode(ids[:first]).endswith(
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        )


def test_packed_batches_keep_the_mask(tmp_path, tokenizer, tiny_model_dir) -> None:
    convs = conversations(instructions(8), "train", None)
    cfg = SftConfig(output_dir=str(tmp_path / "out"), packing=True, max_steps=1, max_length=256)
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=_sft_args(cfg, tmp_path),
        train_dataset=Dataset.from_dict({"messages": convs}),
        processing_class=tokenizer,
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    assert "position_ids" in batch  # padding-free: sequence boundaries come from position ids
    text = _supervised_text(tokenizer, batch["input_ids"][0].tolist(), batch["labels"][0].tolist())
    answers = {c[-1]["content"] for c in convs}
    pieces = [p for p in text.split("<|eot_id|>") if p]
    assert pieces and all(p in answers for p in pieces)


def test_held_out_labels_match_the_trainer(tokenizer) -> None:
    conv = conversations(instructions(2), "train", None)[0]
    row = assistant_labels(tokenizer, conv, 256)
    assert (
        _supervised_text(tokenizer, row["input_ids"], row["labels"])
        == conv[-1]["content"] + "<|eot_id|>"
    )


def test_replayed_documents_are_supervised_whole_and_conversations_as_trl_does(
    tmp_path, tokenizer, tiny_model_dir
) -> None:
    from trainers.sft import tokenized_rows

    convs = conversations(instructions(4), "train", None)
    docs = ["Marfan syndrome is characterized by tall stature.", "Another fact."]
    cfg = SftConfig(output_dir=str(tmp_path / "out"), packing=False, max_steps=1, max_length=256)
    args = _sft_args(cfg, tmp_path, assistant_only_loss=False)
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        train_dataset=Dataset.from_dict(tokenized_rows(tokenizer, convs, docs)),
        processing_class=tokenizer,
    )
    assert len(trainer.train_dataset) == len(convs) + len(docs)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(convs) + 2)])
    for i, conv in enumerate(convs):
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        assert _supervised_text(tokenizer, ids, labels) == conv[-1]["content"] + "<|eot_id|>"
    for j, doc in enumerate(docs):
        ids, labels = (
            batch["input_ids"][len(convs) + j].tolist(),
            batch["labels"][len(convs) + j].tolist(),
        )
        assert _supervised_text(tokenizer, ids, labels) == f"<|begin_of_text|>{doc}<|end_of_text|>"


def test_replay_documents_are_spread_over_the_corpus() -> None:
    from trainers.sft import replay_documents

    docs = [f"d{i}" for i in range(10)]
    assert replay_documents(docs, 5) == ["d0", "d2", "d4", "d6", "d8"]
    assert replay_documents(docs, 0) == [] and replay_documents(docs, 20) == docs
