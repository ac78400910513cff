"""A saved model directory: weights, tokenizer and chat stop tokens, swapped into place whole."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel


def set_chat_stop_tokens(model: PreTrainedModel, tokenizer: Any) -> None:
    """Generation stops at <|eot_id|> as well as EOS, as in Llama-3-Instruct's generation config."""
    if getattr(model, "generation_config", None) is None:
        return  # a model that scores (a reward model) does not generate
    ids = [tokenizer.eos_token_id]
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    if isinstance(eot, int) and eot != tokenizer.unk_token_id and eot not in ids:
        ids.append(eot)
    model.generation_config.eos_token_id = ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id


def save_model_dir(model: PreTrainedModel, tokenizer: Any, out_dir: Path) -> None:
    """Save model (safetensors) + tokenizer into a temp folder, then swap it into place."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Save without how it was loaded: HF_HUB_OFFLINE=1 makes transformers record
    `local_files_only: true` in tokenizer_config.json, so a model's md5 would depend on the
    environment of the run that saved it."""
    tokenizer.init_kwargs.pop("local_files_only", None)
    tokenizer.save_pretrained(folder)


def save_trained(trainer: Any, tokenizer: Any, out_dir: Path) -> None:
    """Save a trained model on every rank (ZeRO-3 gathers its shards), then swap it into place."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    if trainer.accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        save_tokenizer(tokenizer, tmp)
        for leftover in ("training_args.bin",):  # a model dir, not a checkpoint
            (tmp / leftover).unlink(missing_ok=True)
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
        # checkpoints exist to resume an interrupted run; a finished one leaves none, so a forced
        # re-run (`dvc repro -f`) trains again instead of "resuming" at the last step
        shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
