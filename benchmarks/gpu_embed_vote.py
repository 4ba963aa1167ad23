"""GPU check for the benchmarks issue: the embed stage vs a bare forward (two embedders), and the exact vote.

    python benchmarks/gpu_embed_vote.py --output benchmarks/GPU_EMBED_VOTE.md   # on the GPU (about a minute)
    python benchmarks/gpu_embed_vote.py --tiny --output /tmp/x.md              # smoke test on a CPU

Part 1 is benchmarks/run.py's embedding comparison on the GPU: the default embedder
(EfficientNet-Lite0 at 64x64, fp16 on CUDA, its bundled weights) through the real embed stage
(files in, files out, model built) against a bare forward of the same network on a ready
batch, after one warm-up call (CUDA context, cuDNN autotuning).

Part 2 does the same for ``inception``, the embedder the paper's CIFAR-10 config votes with:
clean-fid's TorchScript Inception-v3 (2048-d) after clean-fid's "clean" resize to 299x299
(PIL bicubic, channel by channel, on the CPU, in the stage's one process). Three timings: the
embed stage at the embedder's default batch (64) on 32x32 RGB images (CIFAR-10's size), the
bare forward of the same TorchScript module on a ready 299x299 batch, and the resize alone on
one thread. The real weights file (``inception-2015-12-05.pt``, NVIDIA's download) is used when
``--inception-weights`` names a folder holding it. Otherwise a TorchScript file of the same
interface with random weights is written and loaded the same way: on a full run torchvision's
``Inception3`` up to its 2048-d pool (the same layer stack and widths as the TensorFlow graph
NVIDIA converted; that graph's blocks differ in pooling details only), which measures the
architecture's speed and not its features; with ``--tiny`` a small stand-in, as the tests do.

Part 3 is the exact nearest-neighbour vote by the torch backend (CUDA) and numpy (the CPU, for
reference) and, where faiss has GPU support, faiss; all must give the same counts. Full size:
the paper's CIFAR-10 vote (50,000 private x 50,000 candidates in 10 classes x 2048-d), one
iteration's vote. ``--vote P S D C`` sets other sizes.

Each part is measured on its own: a part that fails is reported as such, and the table is
rewritten after each part.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import embedding_throughput, vote_backends  # noqa: E402


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU run)"


def faiss_installed() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def faiss_has_gpu() -> bool:
    try:
        import faiss
    except ImportError:
        return False
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def synchronize():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def save_random_inception(folder: Path, tiny: bool) -> tuple[Path, str]:
    """A TorchScript file with the interface of clean-fid's Inception file, random weights:
    torchvision's Inception3 up to the 2048-d pool, or with ``tiny`` a small stand-in."""
    import torch

    torch.manual_seed(0)
    if tiny:
        class Layers(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 16, kernel_size=15, stride=15)
                self.head = torch.nn.Linear(16, 2048)

            def forward(self, x):
                return self.head(torch.tanh(self.conv(x).mean(dim=(2, 3))))[:, :, None, None]

        layers, what = torch.jit.script(Layers().eval()), "a small stand-in (random weights)"
    else:
        from torchvision.models import Inception3

        class Layers(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = Inception3(aux_logits=False, transform_input=False, init_weights=False)
                self.net.dropout, self.net.fc = torch.nn.Identity(), torch.nn.Identity()

            def forward(self, x):
                return self.net._forward(x)[0][:, :, None, None]

        layers = torch.jit.trace(Layers().eval(), torch.zeros(2, 3, 299, 299))
        what = "torchvision's Inception3 to the 2048-d pool, random weights"

    class FakeInception(torch.nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = layers

        def forward(self, x, return_features: bool = False):
            return self.layers(x)

    folder.mkdir(parents=True, exist_ok=True)
    torch.jit.script(FakeInception(layers).eval()).save(str(folder / "inception-2015-12-05.pt"))
    return folder, what


def inception_throughput(num_images: int, workdir: Path, device: str, weights: Path | None, tiny: bool) -> dict:
    """The inception embed stage vs its bare forward and its resize alone (images/s)."""
    import torch
    from cleanfid.inception_torchscript import InceptionV3W
    from cleanfid.resize import build_resizer

    from private_evolution.inception import WEIGHTS_FILE
    from private_evolution.io import save_npz
    from private_evolution.stages.embed import embed

    if weights is not None and (weights / WEIGHTS_FILE).is_file():
        folder, what = weights, f"the real weights ({weights / WEIGHTS_FILE})"
    else:
        folder, what = save_random_inception(workdir / "inception_weights", tiny)
    batch = 64  # the embedder's default batch_size, which the paper's config keeps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(num_images, 32, 32, 3), dtype=np.uint8)
    save_npz(workdir / "inception_images.npz", images=images, labels=np.zeros(num_images, int))
    save_npz(workdir / "inception_warmup.npz", images=images[:batch * 2], labels=np.zeros(batch * 2, int))
    cfg = {"name": "inception", "weights": str(folder), "batch_size": batch, "device": device}
    embed(str(workdir / "inception_warmup.npz"), str(workdir / "inception_out.npz"), cfg)  # CUDA context, cuDNN
    synchronize()
    start = time.perf_counter()
    embed(str(workdir / "inception_images.npz"), str(workdir / "inception_out.npz"), cfg)
    synchronize()
    stage = time.perf_counter() - start

    resize = build_resizer("clean")
    count = min(num_images, 1000)
    start = time.perf_counter()
    for image in images[:count]:
        resize(image)
    resize_ips = count / (time.perf_counter() - start)

    model = InceptionV3W(str(folder), download=False, resize_inside=False).to(device).eval()
    bare = {}
    for size in (batch, 8 if tiny else 512):
        x = torch.rand(size, 3, 299, 299, device=device) * 255
        calls = max(2, -(-num_images // size)) if not tiny else 2
        with torch.inference_mode():
            model(x)
            synchronize()
            start = time.perf_counter()
            for _ in range(calls):
                model(x).float().cpu()
            synchronize()
        bare[size] = calls * size / (time.perf_counter() - start)
    return {"images": num_images, "weights": what, "batch": batch, "stage_ips": num_images / stage,
            "resize_ips": resize_ips, "bare": bare, "ratio": num_images / stage / bare[batch]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small sizes on whatever device is there")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--inception-weights", type=Path, help="a folder holding the real inception-2015-12-05.pt")
    parser.add_argument("--vote", type=int, nargs=4, metavar=("PRIVATE", "SYNTHETIC", "DIM", "CLASSES"))
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    images = 512 if args.tiny else 50_000
    inception_images = 256 if args.tiny else 4_000
    private, synthetic, dim, classes = args.vote or ((2_000, 500, 64, 1) if args.tiny else (50_000, 50_000, 2048, 10))
    backends = ("numpy", "torch") + (("faiss",) if faiss_has_gpu() or (args.tiny and faiss_installed()) else ())
    results: dict = {}

    def render() -> str:
        lines = [
            "# GPU check: embedding and vote",
            "",
            f"Made by `python benchmarks/gpu_embed_vote.py{' --tiny' if args.tiny else ''}` on {gpu_name()} "
            f"(torch {torch.__version__}, {platform.node()}), {time.strftime('%Y-%m-%d %H:%M')}; one run.",
        ]
        emb = results.get("effnet")
        lines += ["", f"## Embedding throughput ({device}, EfficientNet-Lite0 at 64x64, {images:,} images)", ""]
        if isinstance(emb, dict):
            lines += [
                "| | images/s |",
                "|---|---:|",
                f"| embed stage (read npz, build model, preprocess, forward, write) | {emb['stage_ips']:.0f} |",
                f"| bare forward pass of the same network on a ready batch | {emb['bare_ips']:.0f} |",
                f"| **ratio stage / bare** (target >= 0.9) | **{emb['ratio']:.2f}** |",
            ]
        else:
            lines.append(f"FAILED ({emb})" if emb else "not run")
        inc = results.get("inception")
        lines += ["", f"## Inception-v3 embedding throughput ({device}, 32x32 RGB images)", ""]
        if isinstance(inc, dict):
            lines += [
                f"Weights: {inc['weights']}. {inc['images']:,} images, batch {inc['batch']}.",
                "",
                "| | images/s |",
                "|---|---:|",
                f"| embed stage (read npz, load, clean resize to 299x299 on the CPU, forward, write) | {inc['stage_ips']:.0f} |",
                f"| clean resize alone (PIL bicubic per channel, one thread) | {inc['resize_ips']:.0f} |",
                *[f"| bare forward on a ready 299x299 batch of {size} | {rate:.0f} |" for size, rate in inc["bare"].items()],
                f"| **ratio stage / bare (batch {inc['batch']})** | **{inc['ratio']:.2f}** |",
            ]
        else:
            lines.append(f"FAILED ({inc})" if inc else "not run")
        vote = results.get("vote")
        lines += ["", f"## Exact nearest-neighbour vote, {private:,} private x {synthetic:,} candidates x {dim} "
                      f"({classes} class{'es' if classes > 1 else ''})", ""]
        if isinstance(vote, dict):
            terms = private * synthetic * dim / classes
            lines += [
                "| backend | where | seconds | distance terms/s |",
                "|---|---|---:|---:|",
                *[f"| {name} | {'CPU' if name == 'numpy' or device == 'cpu' else 'GPU'} | {vote[name]:.2f} | "
                  f"{terms / vote[name]:.3g} |" for name in backends],
                f"| same counts | | {'yes' if vote['same_counts'] else 'NO'} | |",
                "",
                f"(distance terms: private x candidates of their class x dimension = {terms:.3g}; "
                f"faiss GPU {'available' if faiss_has_gpu() else 'not installed'})",
            ]
        else:
            lines.append(f"FAILED ({vote})" if vote else "not run")
        return "\n".join(lines) + "\n"

    parts = {
        "effnet": lambda folder: (embedding_throughput(256, 1, folder, device=device, jobs=False),  # warm-up
                                  embedding_throughput(images, 3, folder, device=device, jobs=False))[1],
        "inception": lambda folder: inception_throughput(inception_images, folder, device, args.inception_weights, args.tiny),
        "vote": lambda folder: vote_backends(private, synthetic, dim, 1, backends=backends, classes=classes),
    }
    failed = False
    for name, part in parts.items():
        started = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory() as folder:
                results[name] = part(Path(folder))
        except Exception as err:  # one part's failure must not lose the others
            traceback.print_exc()
            results[name], failed = f"{type(err).__name__}: {err}", True
        print(f"{name}: {results[name]} ({time.perf_counter() - started:.0f} s)", flush=True)
        args.output.write_text(render())
    print(render())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
