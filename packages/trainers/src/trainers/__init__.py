"""Tokenizer, tiny Llama-3 base, SFT and preference training, all through one lifecycle.

A training stage is a config (`config`), a dataset builder and a trainer factory (`pretrain`,
`sft`, `preference`); `lifecycle.run_training` does the rest: `arguments` (TrainingArguments
from the config), `checkpoints` (fingerprinted resume), `callbacks` (MLflow steps, time budget),
`model_dir` (stop tokens, atomic save). `training_stage` is the stage side: `card` (the model
card), `reporting` (results to metrics/<stage>.json, run-dependent values to MLflow only).
`heldout` measures held-out loss and preference accuracy; `distributed` says which rank writes.
"""
