"""What the benchmark runs on, and the model-FLOPs-utilisation arithmetic it reports.

MFU (PaLM, appendix B; nanoGPT's estimate_mfu): model FLOPs per token / (tokens/s) over the
GPU's peak dense bf16 rate, where a training token costs 6 N + 12 L d T FLOPs: N parameters that
take part in matmuls (the input embedding is a lookup, so only the output projection counts),
L layers, width d, T the attended context. Gradient-checkpointing's recomputed forward is not
counted (that would be hardware FLOPs utilisation, HFU); a frozen reference model's forward
(DPO) adds 2 N + 4 L d T per token.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, FLOP/s. Checked in order:
# a more specific name first (an "H100 PCIe" must not match the SXM entry).
PEAK_BF16: list[tuple[tuple[str, ...], str, float]] = [
    (("H100", "PCIE"), "H100 PCIe", 756e12),
    (("H100", "NVL"), "H100 NVL", 835e12),
    (("H100",), "H100 SXM", 989e12),
    (("H200", "NVL"), "H200 NVL", 835e12),
    (("H200",), "H200 SXM", 989e12),
    (("GH200",), "GH200", 989e12),
    (("A100",), "A100", 312e12),
]

OPTIONAL = ("trl", "datasets", "deepspeed", "vllm", "lm_eval", "rich")


def peak_bf16_flops(gpu_name: str | None) -> tuple[float | None, str]:
    """(peak dense bf16 FLOP/s, the table entry) or (None, why there is no figure)."""
    if not gpu_name:
        return None, "no CUDA device: MFU needs a GPU's peak bf16 rate"
    upper = gpu_name.upper().replace("-", " ")
    for keys, label, peak in PEAK_BF16:
        if all(k in upper for k in keys):
            return peak, label
    known = ", ".join(label for _, label, _ in PEAK_BF16)
    return None, f"GPU {gpu_name!r} is not in the peak-FLOPs table ({known}); add its bf16 peak"


def matmul_params(model: Any) -> int:
    """Weights that take part in matmuls: every matrix but an untied input embedding (a lookup,
    no FLOPs); norm scales (vectors) do a handful of element-wise FLOPs and are left out."""
    total = sum(p.numel() for p in model.parameters() if p.ndim == 2)
    if getattr(model.config, "tie_word_embeddings", False):
        return total  # the shared matrix is counted once: as the output projection
    return total - model.get_input_embeddings().weight.numel()


def train_flops_per_token(n_params: int, layers: int, width: int, context: float) -> float:
    """PaLM's 6 N + 12 L d T: forward + backward of a token attending over `context` tokens."""
    return 6.0 * n_params + 12.0 * layers * width * context


def forward_flops_per_token(n_params: int, layers: int, width: int, context: float) -> float:
    """A third of the training figure: 2 N + 4 L d T (a frozen reference model's forward)."""
    return 2.0 * n_params + 4.0 * layers * width * context


def mfu(tokens_per_s: float, flops_per_token: float, peak: float | None) -> float | None:
    """Achieved model FLOP/s over the peak (a fraction; None without a peak)."""
    if peak is None or peak <= 0:
        return None
    return tokens_per_s * flops_per_token / peak


def peak_memory_gb() -> float | None:
    """torch.cuda.max_memory_allocated in GiB since the last reset; None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def reset_peak_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def missing(module: str) -> str | None:
    """None when `module` imports, else why not (the one line the report shows)."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken install raises more than ImportError (e.g. OSError)
        return f"{module} does not import here: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def driver_version() -> str | None:
    """The NVIDIA driver, from nvidia-smi (torch does not expose it)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


def environment(device: str) -> dict[str, Any]:
    """GPU, driver and library versions, the date: what a figure needs to be comparable."""
    import torch

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if cuda else None
    peak, peak_source = peak_bf16_flops(gpu)
    dists = [
        "torch",
        "transformers",
        "accelerate",
        "trl",
        "datasets",
        "deepspeed",
        "vllm",
        "lm_eval",
        "peft",
        "pyarrow",
    ]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "device": device,
        "gpu": gpu,
        "gpu_memory_gb": (
            round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None
        ),
        "cuda": torch.version.cuda if cuda else None,
        "driver": driver_version() if cuda else None,
        "peak_bf16_flops": peak,
        "peak_source": peak_source,
        "versions": {d: _version(d.replace("_", "-")) or _version(d) for d in dists},
    }
