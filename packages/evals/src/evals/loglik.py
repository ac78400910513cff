"""Option log-likelihoods with each question's shared context encoded once (lm-eval compatible).

Tokenisation follows lm-evaluation-harness exactly so that predictions agree item by item:
trailing spaces of the context move to the continuation, the context is encoded on its own with
the tokenizer's default special tokens, and a continuation is `encode(context + cont)` minus the
context's token count. Every option of a question therefore shares the same context tokens, so:
- when every continuation is one token (letter choices, the default), one forward of the context
  gives all options' log-probs at its last position, and many questions share one padded batch;
  tokens every option starts with (a chat answer's "\n\n" before the letter) join the context
  and are read at the positions before it, so such questions take this path too;
- otherwise the context is encoded once with its KV cache, which is repeated over the options
  and only the continuation tokens are run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm


@dataclass
class OptionScore:
    """Sum of continuation token log-probs, and whether greedy decoding would produce it."""

    loglik: float
    is_greedy: bool


def encode_requests(
    tokenizer, requests: Sequence[tuple[str, Sequence[str]]]
) -> list[tuple[list[int], list[list[int]]]]:
    """(context, continuations) -> (context ids, continuation ids per option), lm-eval style."""
    contexts, wholes, owners = [], [], []
    for ctx, conts in requests:
        n_spaces = len(ctx) - len(ctx.rstrip())
        trimmed = ctx[: len(ctx) - n_spaces] if n_spaces else ctx
        contexts.append(trimmed)
        for cont in conts:
            wholes.append(trimmed + (ctx[len(ctx) - n_spaces :] if n_spaces else "") + cont)
            owners.append(len(contexts) - 1)
    ctx_ids = tokenizer(contexts)["input_ids"]
    whole_ids = tokenizer(wholes)["input_ids"]
    out: list[tuple[list[int], list[list[int]]]] = [(list(c), []) for c in ctx_ids]
    for owner, ids in zip(owners, whole_ids, strict=True):
        cont = list(ids[len(out[owner][0]) :])
        if not cont:
            raise ValueError(f"continuation of request {owner} encodes to no tokens")
        out[owner][1].append(cont)
    return out


def _truncate(ctx: list[int], conts: list[list[int]], max_length: int) -> list[int]:
    """Left-truncate the context so context + longest continuation - 1 fits, as lm-eval does."""
    keep = max_length + 1 - max(len(c) for c in conts)
    return ctx[-keep:] if len(ctx) > keep else ctx


def _fold(ctx: list[int], conts: list[list[int]]) -> tuple[list[int], list[list[int]], int]:
    """(context + the tokens all options share, one token per option, how many were shared).

    Only when that leaves every option exactly one token; otherwise nothing is folded.
    """
    shared = len(conts[0]) - 1
    if shared < 1 or any(len(c) != shared + 1 or c[:shared] != conts[0][:shared] for c in conts):
        return ctx, conts, 0
    return ctx + conts[0][:shared], [c[shared:] for c in conts], shared


@torch.inference_mode()
def option_logliks(
    model,
    tokenizer,
    requests: Sequence[tuple[str, Sequence[str]]],
    *,
    batch_tokens: int = 16384,
    max_batch: int = 64,
    max_length: int | None = None,
    progress: bool = False,
) -> list[list[OptionScore]]:
    """Log-likelihood of every continuation of every (context, continuations) request."""
    device = next(model.parameters()).device
    max_length = max_length or int(getattr(model.config, "max_position_embeddings", 2048))
    encoded = [(_truncate(c, cs, max_length), cs) for c, cs in encode_requests(tokenizer, requests)]
    folded = [_fold(c, cs) for c, cs in encoded]
    results: list[list[OptionScore] | None] = [None] * len(encoded)
    single = [i for i, (_, cs, _) in enumerate(folded) if all(len(c) == 1 for c in cs)]
    multi = sorted(set(range(len(encoded))) - set(single))
    bar = tqdm(total=len(encoded), desc="loglik", disable=not progress, unit="q")
    # longest first: padding stays small and an out-of-memory error shows up at once
    single.sort(key=lambda i: -len(folded[i][0]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    start = 0
    while start < len(single):
        longest = len(folded[single[start]][0])
        size = max(1, min(max_batch, batch_tokens // max(longest, 1)))
        chunk = single[start : start + size]
        start += size
        rows = _last_token_batch(model, [folded[i] for i in chunk], pad_id)
        for i, row in zip(chunk, rows, strict=True):
            results[i] = row
        bar.update(len(chunk))
    # several-token continuations: batch questions with the same number of options
    multi.sort(key=lambda i: (len(encoded[i][1]), -len(encoded[i][0])))
    start = 0
    while start < len(multi):
        n_opts = len(encoded[multi[start]][1])
        longest = len(encoded[multi[start]][0])
        width = max(len(c) for c in encoded[multi[start]][1])
        size = max(1, min(max_batch, batch_tokens // (longest + n_opts * max(width, 4))))
        chunk = [i for i in multi[start : start + size] if len(encoded[i][1]) == n_opts]
        start += len(chunk)
        scores = _cached_batch(model, [encoded[i] for i in chunk], pad_id, device)
        for i, row in zip(chunk, scores, strict=True):
            results[i] = row
        bar.update(len(chunk))
    bar.close()
    return results  # type: ignore[return-value]


def _last_token_batch(model, batch, pad_id: int) -> list[list[OptionScore]]:
    """Questions whose options are one token each after `shared` tokens all options start with.

    Right padding and no attention mask: under the causal mask the trailing pads cannot reach the
    real tokens, and attention runs its mask-free causal kernel. Only the positions that predict
    the shared tokens and the option go through the vocabulary projection (logits_to_keep): most
    of a small model's work otherwise.
    """
    device = next(model.parameters()).device
    longest = max(len(ctx) for ctx, _, _ in batch)
    ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    for row, (ctx, _, _) in enumerate(batch):
        ids[row, : len(ctx)] = torch.tensor(ctx)
    width = 1 + max(shared for _, _, shared in batch)
    # row r reads positions last - shared .. last, left-filled with its first one up to `width`
    wanted = [
        [max(len(ctx) - 1 - shared, len(ctx) - width + j) for j in range(width)]
        for ctx, _, shared in batch
    ]
    keep = sorted({p for row in wanted for p in row})
    logits = model(input_ids=ids.to(device), logits_to_keep=torch.tensor(keep, device=device))
    column = torch.tensor([[keep.index(p) for p in row] for row in wanted], device=device)
    rows = torch.arange(len(batch), device=device)[:, None]
    logprobs = torch.log_softmax(logits.logits[rows, column].float(), -1)
    greedy = logprobs.argmax(-1)
    scores = []
    for row, (ctx, conts, shared) in enumerate(batch):
        lead = ctx[len(ctx) - shared :]  # the shared tokens, predicted at width - 1 - shared ...
        at = [width - 1 - shared + j for j in range(shared)]
        total = sum(float(logprobs[row, a, t]) for a, t in zip(at, lead, strict=True))
        on_path = all(bool(greedy[row, a] == t) for a, t in zip(at, lead, strict=True))
        scores.append(
            [
                OptionScore(
                    total + float(logprobs[row, -1, c[0]]),
                    on_path and bool(greedy[row, -1] == c[0]),
                )
                for c in conts
            ]
        )
    return scores


def _cached_batch(model, batch, pad_id: int, device) -> list[list[OptionScore]]:
    """Questions whose continuations span several tokens: contexts once, then their KV cache.

    The contexts (left-padded) run once; their cache is repeated once per option and only the
    continuation tokens run on top of it.
    """
    n_opts = len(batch[0][1])
    longest = max(len(ctx) for ctx, _ in batch)
    ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, (ctx, _) in enumerate(batch):
        ids[row, longest - len(ctx) :] = torch.tensor(ctx)
        mask[row, longest - len(ctx) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        use_cache=True,
        logits_to_keep=1,
    )
    first = torch.log_softmax(out.logits[:, -1].float(), -1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(n_opts)
    width = max(len(c) for _, conts in batch for c in conts)
    cont_ids = torch.full((len(batch) * n_opts, width), pad_id, dtype=torch.long)
    for q, (_, conts) in enumerate(batch):
        for k, cont in enumerate(conts):
            cont_ids[q * n_opts + k, : len(cont)] = torch.tensor(cont)
    # right padding after the real tokens cannot influence them under a causal mask
    cont_mask = torch.cat(
        [
            mask.repeat_interleave(n_opts, 0),
            torch.ones((len(batch) * n_opts, width), dtype=torch.long),
        ],
        1,
    )
    lengths = torch.tensor([len(ctx) for ctx, _ in batch]).repeat_interleave(n_opts)
    cont_pos = lengths[:, None] + torch.arange(width)[None, :]
    rest = model(
        input_ids=cont_ids.to(device),
        attention_mask=cont_mask.to(device),
        past_key_values=cache,
        position_ids=cont_pos.to(device),
        use_cache=False,
    ).logits
    rest = torch.log_softmax(rest.float(), -1)
    scores = []
    for q, (_, conts) in enumerate(batch):
        row = []
        for k, cont in enumerate(conts):
            r = q * n_opts + k
            total, greedy = float(first[q, cont[0]]), bool(first[q].argmax() == cont[0])
            for j in range(1, len(cont)):
                total += float(rest[r, j - 1, cont[j]])
                greedy = greedy and bool(rest[r, j - 1].argmax() == cont[j])
            row.append(OptionScore(total, greedy))
        scores.append(row)
    return scores


@torch.inference_mode()
def naive_option_logliks(model, tokenizer, requests) -> list[list[OptionScore]]:
    """Reference: one full forward of context + continuation per option (what lm-eval does)."""
    device = next(model.parameters()).device
    out = []
    for ctx, conts in encode_requests(tokenizer, requests):
        scores = []
        for cont in conts:
            ids = torch.tensor([(ctx + cont)[:-1]], device=device)
            lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)[-len(cont) :]
            target = torch.tensor(cont, device=device)
            total = float(lp.gather(-1, target[:, None]).sum())
            scores.append(OptionScore(total, bool((lp.argmax(-1) == target).all())))
        out.append(scores)
    return out
