"""GPU check for the benchmarks issue: embedding stage vs bare forward, and the large exact vote.

    python benchmarks/gpu_embed_vote.py --output benchmarks/GPU_EMBED_VOTE.md   # on the GPU (sized for a few minutes; not yet run on one)
    python benchmarks/gpu_embed_vote.py --tiny --output /tmp/x.md              # smoke test on a CPU

Part 1 is benchmarks/run.py's embedding comparison on the GPU: the default embedder
(EfficientNet-Lite0 at 64x64, fp16 on CUDA) through the real embed stage (files in,
files out, model built) against a bare forward of the same network on a ready batch,
after one warm-up call (CUDA context, cuDNN autotuning). Part 2 is the exact
nearest-neighbour vote at 10^6 private x 10^5 synthetic x 2048-d by the torch backend
(CUDA) and, where faiss has GPU support, faiss; both must give the same counts.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import embedding_throughput, vote_backends  # noqa: E402


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU run)"


def faiss_has_gpu() -> bool:
    try:
        import faiss
    except ImportError:
        return False
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small sizes on whatever device is there")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    images = 512 if args.tiny else 50_000
    private, synthetic, dim = (2_000, 500, 64) if args.tiny else (1_000_000, 100_000, 2048)
    with tempfile.TemporaryDirectory() as folder:
        embedding_throughput(256, 1, Path(folder), device=device, jobs=False)  # warm-up
        emb = embedding_throughput(images, 3, Path(folder), device=device, jobs=False)
    backends = ("torch", "faiss") if faiss_has_gpu() or args.tiny else ("torch",)
    started = time.perf_counter()
    vote = vote_backends(private, synthetic, dim, 1, backends=backends)
    lines = [
        "# GPU check: embedding and vote",
        "",
        f"Made by `python benchmarks/gpu_embed_vote.py{' --tiny' if args.tiny else ''}` on {gpu_name()} "
        f"(torch {torch.__version__}, {platform.node()}), {time.strftime('%Y-%m-%d %H:%M')}; one run.",
        "",
        f"## Embedding throughput ({device}, EfficientNet-Lite0 at 64x64, {images:,} images)",
        "",
        "| | images/s |",
        "|---|---:|",
        f"| embed stage (read npz, build model, preprocess, forward, write) | {emb['stage_ips']:.0f} |",
        f"| bare forward pass of the same network on a ready batch | {emb['bare_ips']:.0f} |",
        f"| **ratio stage / bare** (target >= 0.9) | **{emb['ratio']:.2f}** |",
        "",
        f"## Exact nearest-neighbour vote, {private:,} x {synthetic:,} x {dim}",
        "",
        "| backend | seconds |",
        "|---|---:|",
        *[f"| {name} | {vote[name]:.2f} |" for name in backends],
        f"| same counts | {'yes' if vote['same_counts'] else 'NO'} |",
        "",
        f"(vote part {time.perf_counter() - started:.0f} s in all; faiss GPU {'available' if faiss_has_gpu() else 'not installed'})",
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
