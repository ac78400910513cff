"""The model card is part of the DVC-tracked model dir: same weights and recipe, same bytes."""

from __future__ import annotations

from trainers.card import model_card


def test_card_holds_recipe_and_results_but_no_run_timings(tmp_path) -> None:
    def card(seconds: float, resumed: str) -> str:
        metrics = {
            "heldout_loss_sft": 3.2741,
            "global_step": 240,
            "train_seconds": seconds,
            "tokens_per_second": 4000 / seconds,
            "resumed_from": resumed,
        }
        path = model_card(
            tmp_path,
            title="SFT",
            base="models/base",
            data={"d.parquet": "abc"},
            recipe={"learning_rate": 1e-3},
            metrics=metrics,
        )
        return path.read_text(encoding="utf-8")

    first = card(114.9, "")
    assert "| heldout_loss_sft | 3.2741 |" in first and "| global_step | 240 |" in first
    assert "`d.parquet` md5 `abc`" in first and '"learning_rate": 0.001' in first
    assert "seconds" not in first and "resumed_from" not in first
    assert card(261.8, "models/checkpoints/sft/checkpoint-200") == first


def test_card_ends_with_how_to_load_it(tmp_path) -> None:
    def card(**usage: str) -> list[str]:
        path = model_card(tmp_path, title="T", base="b", data={}, recipe={}, metrics={}, **usage)
        return path.read_text(encoding="utf-8").splitlines()

    assert "AutoModelForCausalLM" in card()[-1]
    assert card(usage="Load with X.")[-1] == "Load with X."
