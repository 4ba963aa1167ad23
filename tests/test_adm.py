"""OpenAI's ADM checkpoints (improved-/guided-diffusion) converted to diffusers, checked against the reference code.

The reference is ``guided_diffusion`` (package ``guided-diffusion-sdk``, a test-only
dependency pinned in requirements/ci.txt): tiny random-weight models built with its
``create_model`` in each architecture variant, converted, and compared on the same
inputs, timesteps and labels; then whole DDIM trajectories against its
``ddim_sample_loop``. The largest differences are printed (pytest -s) and quoted in
config/README.md (OpenAI's ADM checkpoints).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import guided_diffusion.nn as reference_nn
import guided_diffusion.unet as reference_unet
from guided_diffusion.script_util import create_gaussian_diffusion, create_model
from private_evolution import PEError, adm, adm_unet
from private_evolution.apis import make_api
from private_evolution.diffusion import sample_generators
from private_evolution.io import Population
from private_evolution.seeding import per_sample_seeds

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 16
# Architecture variants, as the reference's flags. Channels stay multiples of 32 (group norm).
VARIANTS = {
    # the 270M model's layout: a fixed head count (so the head dimension differs by level),
    # legacy attention order, scale-shift norm, conv up/down, class-conditional, learned sigma
    "improved-270M layout": dict(
        num_channels=32, num_res_blocks=2, channel_mult="1,2,3", attention_resolutions="8,4", num_heads=4,
        use_scale_shift_norm=True, class_cond=True, learn_sigma=True,
    ),
    # guided-diffusion's 64x64 layout: a fixed head dimension, new attention order, resblock up/down
    "guided-64x64 layout": dict(
        num_channels=32, num_res_blocks=2, channel_mult="1,2,3", attention_resolutions="16,8,4", num_head_channels=16,
        resblock_updown=True, use_new_attention_order=True, use_scale_shift_norm=True, class_cond=True, learn_sigma=True,
    ),
    # no scale-shift norm, unconditional, epsilon only, one block per level
    "plain norm, unconditional": dict(
        num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="8", num_heads=2,
        use_scale_shift_norm=False,
    ),
    # new attention order with conv up/down, and num_heads_upsample != num_heads
    "new order, conv up/down": dict(
        num_channels=32, num_res_blocks=1, channel_mult="1,2,2", attention_resolutions="16,4", num_heads=2,
        num_heads_upsample=4, use_new_attention_order=True, use_scale_shift_norm=True, class_cond=True,
    ),
    # legacy order with resblock up/down and no scale-shift norm
    "legacy order, resblock up/down": dict(
        num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="16,8", num_head_channels=32,
        resblock_updown=True, use_scale_shift_norm=False, learn_sigma=True,
    ),
}
MODEL_FLAGS = (
    "num_channels", "num_res_blocks", "channel_mult", "learn_sigma", "class_cond", "attention_resolutions", "num_heads",
    "num_head_channels", "num_heads_upsample", "use_scale_shift_norm", "resblock_updown", "use_new_attention_order",
)
DIFFERENCES: dict[str, dict] = {}


def reference_model(flags: dict, seed: int = 0, device=None):
    """The reference's UNetModel with random weights in every parameter (its zero-initialised layers too)."""
    kwargs = {k: flags[k] for k in MODEL_FLAGS if k in flags}
    model = create_model(image_size=flags.get("image_size", SIZE), **kwargs)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if p.ndim > 1:
                p.copy_(noise / p[0].numel() ** 0.5)
            else:  # norm scales near 1, biases near 0
                p.copy_(0.1 * noise + (1.0 if name.endswith("weight") else 0.0))
    return model.eval()


def flags_of(variant: dict, **diffusion) -> dict:
    return adm.resolve_flags("guided-diffusion", {"image_size": SIZE, **variant, **diffusion})


def inputs(flags: dict, dtype, batch: int = 4, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, SIZE, SIZE, generator=generator).to(dtype)
    t = torch.tensor([0, 1, 417, flags["diffusion_steps"] - 1][:batch])
    y = torch.randint(0, adm.NUM_CLASSES, (batch,), generator=generator) if flags["class_cond"] else None
    return x, t, y


def call_reference(model, x, t, y):
    return model(x, t, y=y) if y is not None else model(x, t)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each variant saved as the reference saves a checkpoint, then converted by convert_checkpoint."""
    root = tmp_path_factory.mktemp("adm")
    out = {}
    for i, (name, variant) in enumerate(VARIANTS.items()):
        reference = reference_model(flags_of(variant), seed=i)
        checkpoint = root / f"variant{i}.pt"
        torch.save(reference.state_dict(), checkpoint)
        overrides = {"image_size": SIZE, **variant}
        out[name] = (reference, checkpoint, adm_unet.convert_checkpoint(checkpoint, root / f"variant{i}", "guided-diffusion", overrides))
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_noise_prediction_matches_the_reference(name, converted, monkeypatch):
    reference, checkpoint, record = converted[name]
    ours = adm_unet.ADMUNet2DModel.from_pretrained(checkpoint.with_suffix("") / adm.UNET_FOLDER).eval()
    flags = record["flags"]
    found = {}
    with torch.no_grad():
        x, t, y = inputs(flags, torch.float32)
        expected = call_reference(reference, x, t, y)
        got = ours(x, t, class_labels=y).sample
        found["float32 abs"] = (got - expected).abs().max().item()
        found["float32"] = found["float32 abs"] / expected.abs().max().item()
        assert got.shape == expected.shape == (4, 6 if flags["learn_sigma"] else 3, SIZE, SIZE)
        assert expected.abs().max() > 0.5, "random weights reach the output"

        # float64 shows the mapping is exact: what is left is the reference's float32 softmax.
        # Its timestep embedding and group norm cast to float32 on purpose; here they do not.
        with monkeypatch.context() as patch:
            embedding = reference_unet.timestep_embedding
            patch.setattr(reference_unet, "timestep_embedding", lambda t, dim, max_period=10000: embedding(t, dim, max_period).double())
            patch.setattr(reference_nn.GroupNorm32, "forward", torch.nn.GroupNorm.forward)
            patch.setattr(reference, "dtype", torch.float64)
            x, t, y = inputs(flags, torch.float64)
            expected = call_reference(reference.double(), x, t, y)
            got = ours.double()(x, t, class_labels=y).sample
            found["float64"] = (got - expected).abs().max().item() / expected.abs().max().item()
        reference.float()
    DIFFERENCES[name] = found
    print(f"\n{name}: max |ours - reference| = {found['float32 abs']:.2e} (relative {found['float32']:.2e}) in float32, "
          f"relative {found['float64']:.2e} in float64")
    assert found["float32"] < 1e-5
    assert found["float64"] < 1e-6


def test_stock_unet2d_fits_a_fixed_head_dimension_not_a_fixed_head_count(converted):
    """Why ADMUNet2DModel exists: UNet2DModel takes one attention_head_dim for all levels."""
    from diffusers import UNet2DModel

    def as_stock(config: dict, head_dim: int) -> UNet2DModel:
        attention = [d is not None for d in config["down_attention_head_dims"]]
        updown = config["resblock_updown"]
        plain_down, plain_up = ("ResnetDownsampleBlock2D", "ResnetUpsampleBlock2D") if updown else ("DownBlock2D", "UpBlock2D")
        return UNet2DModel(
            sample_size=config["sample_size"], in_channels=3, out_channels=config["out_channels"],
            block_out_channels=config["block_out_channels"], layers_per_block=config["layers_per_block"],
            down_block_types=["AttnDownBlock2D" if a else plain_down for a in attention],
            up_block_types=["AttnUpBlock2D" if a else plain_up for a in reversed(attention)],
            downsample_type="resnet" if updown else "conv", upsample_type="resnet" if updown else "conv",
            attention_head_dim=head_dim, attn_norm_num_groups=32, norm_eps=1e-5,
            resnet_time_scale_shift=config["resnet_time_scale_shift"], num_class_embeds=config["num_class_embeds"],
        ).eval()

    for name, fits in (("guided-64x64 layout", True), ("improved-270M layout", False)):
        reference, checkpoint, record = converted[name]
        ours = adm_unet.ADMUNet2DModel.from_pretrained(checkpoint.with_suffix("") / adm.UNET_FOLDER).eval()
        config = dict(ours.config)
        # one head dimension for all: the middle block's (for the 270M model, 192: 3 heads of 576
        # channels instead of 4 at 16x16; here, 24 does not even divide the 64 channels at 8x8)
        stock = as_stock(config, config["mid_attention_head_dim"])
        try:
            stock.load_state_dict(ours.state_dict())  # the same parameter names
        except RuntimeError as err:
            assert not fits and "size mismatch" in str(err)
            continue
        x, t, y = inputs(record["flags"], torch.float32)
        with torch.no_grad():
            difference = (stock(x, t, class_labels=y).sample - ours(x, t, class_labels=y).sample).abs().max().item()
        assert (difference < 1e-5) == fits, (name, difference)
    # the 270M model itself: its heads' shapes fit a stock UNet2DModel, its head count does not
    config = adm.model_config(adm.resolve_flags("imagenet64_cond_270M_250K"))
    with torch.device("meta"):
        stock = as_stock(config, config["mid_attention_head_dim"])
    heads = [m.heads for m in stock.modules() if type(m).__name__ == "Attention"]
    assert set(heads) == {3, 4}, "576 channels / 192 = 3 heads, the checkpoint has 4"


@pytest.mark.parametrize(
    "name, schedule",
    [
        ("improved-270M layout", dict(diffusion_steps=4000, noise_schedule="cosine", rescale_timesteps=False)),
        ("guided-64x64 layout", dict(diffusion_steps=1000, noise_schedule="cosine")),
        ("plain norm, unconditional", dict(diffusion_steps=1000, noise_schedule="linear", rescale_timesteps=True)),
    ],
)
def test_ddim_trajectory_matches_the_reference_sampler(name, schedule, tmp_path):
    """RANDOM_API's DDIM (the API's own code path) against the reference's ddim_sample_loop from the same noise."""
    variant = VARIANTS[name]
    flags = flags_of(variant, **schedule)
    reference = reference_model(flags, seed=7)
    checkpoint = tmp_path / "model.pt"
    torch.save(reference.state_dict(), checkpoint)
    adm_unet.convert_checkpoint(checkpoint, tmp_path / "converted", "guided-diffusion", {"image_size": SIZE, **variant, **schedule})
    steps, classes = 5, ["a", "b"]
    api = make_api({"name": "diffusion_unet", "diffusion_unet": {
        "model": str(tmp_path / "converted"), "steps": steps, "device": "cpu", "dtype": "float32"}}, classes, SIZE, 3)
    seeds = per_sample_seeds(3, 4, "random")
    model_classes = np.array([5, 250, 999, 0]) if flags["class_cond"] else np.full(4, -1)
    with torch.no_grad():
        ours = api._denoise(None, model_classes, seeds, 1.0)

    noise = torch.stack([torch.randn((3, SIZE, SIZE), generator=g) for g in sample_generators(seeds)])
    diffusion = create_gaussian_diffusion(
        steps=flags["diffusion_steps"], learn_sigma=flags["learn_sigma"], noise_schedule=flags["noise_schedule"],
        rescale_timesteps=flags["rescale_timesteps"], timestep_respacing=f"ddim{steps}",
    )
    kwargs = {"y": torch.from_numpy(model_classes)} if flags["class_cond"] else {}
    with torch.no_grad():
        expected = diffusion.ddim_sample_loop(reference, noise.shape, noise=noise, clip_denoised=True, model_kwargs=kwargs)
    expected = (expected + 1) / 2
    difference = (ours - expected).abs().max().item()
    DIFFERENCES.setdefault(f"DDIM {steps} steps: {name}", {})["trajectory"] = difference
    print(f"\nDDIM, {steps} steps, {name} ({schedule}): max |ours - reference| = {difference:.2e} (images in [0, 1])")
    assert expected.std() > 0.05
    assert difference < 1e-4


def test_sdedit_variation_matches_the_reference_sampler(tmp_path):
    """VARIATION_API's partial trajectory: the reference's q_sample to the degree's step, then its DDIM steps."""
    variant = VARIANTS["improved-270M layout"]
    schedule = dict(diffusion_steps=4000, noise_schedule="cosine")
    flags = flags_of(variant, **schedule)
    reference = reference_model(flags, seed=11)
    checkpoint = tmp_path / "model.pt"
    torch.save(reference.state_dict(), checkpoint)
    adm_unet.convert_checkpoint(checkpoint, tmp_path / "converted", "imagenet64_cond_270M_250K",
                           {"image_size": SIZE, **variant})
    steps, degree = 5, 0.6
    api = make_api({"name": "diffusion_unet", "diffusion_unet": {
        "model": str(tmp_path / "converted"), "steps": steps, "device": "cpu", "dtype": "float32"}}, ["a"], SIZE, 3)
    seeds = per_sample_seeds(4, 3, "variation")
    start = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    model_classes = np.array([1, 2, 3])
    with torch.no_grad():
        ours = api._denoise(start, model_classes, seeds, degree)

    noise = torch.stack([torch.randn((3, SIZE, SIZE), generator=g) for g in sample_generators(seeds)])
    diffusion = create_gaussian_diffusion(
        steps=4000, learn_sigma=True, noise_schedule="cosine", rescale_timesteps=False, timestep_respacing=f"ddim{steps}",
    )
    redone = round(degree * steps)
    kwargs = {"y": torch.from_numpy(model_classes)}
    with torch.no_grad():
        x = diffusion.q_sample(start * 2 - 1, torch.full((3,), redone - 1), noise=noise)
        for index in reversed(range(redone)):
            x = diffusion.ddim_sample(reference, x, torch.full((3,), index), clip_denoised=True, model_kwargs=kwargs)["sample"]
    expected = (x + 1) / 2
    difference = (ours - expected).abs().max().item()
    DIFFERENCES.setdefault("SDEdit degree 0.6", {})["trajectory"] = difference
    print(f"\nSDEdit, degree {degree} of {steps} steps: max |ours - reference| = {difference:.2e}")
    assert difference < 1e-4


@pytest.mark.parametrize("preset", ["imagenet64_cond_270M_250K", "64x64_diffusion", "imagenet64_uncond_100M_1500K",
                                    "cifar10_uncond_50M_500K"])
def test_presets_have_the_reference_models_keys_and_shapes(preset):
    """Each named preset at full size (no storage: meta tensors) against the reference's create_model."""
    flags = adm.resolve_flags(preset)
    kwargs = {k: flags[k] for k in MODEL_FLAGS}
    if flags["image_size"] == 32:  # improved-diffusion's table; guided-diffusion's create_model lacks 32
        kwargs["channel_mult"] = "1,2,2,2"
    with torch.device("meta"):
        reference = create_model(image_size=flags["image_size"], **kwargs)
    ours = adm_unet.empty_model(adm.model_config(flags))
    adm_unet.check_state_dict(reference.state_dict(), ours)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    if preset == "imagenet64_cond_270M_250K":
        assert 265e6 < count < 280e6  # "270M parameters" (improved-diffusion's README)
        assert ours.config.down_attention_head_dims == [None, None, 144, 192]  # 4 heads of 576 and 768 channels
        assert ours.config.timestep_scale == 1.0 and flags["diffusion_steps"] == 4000
    if preset == "64x64_diffusion":
        assert ours.config.down_attention_head_dims == [None, 64, 64, 64]


def test_bad_flags_and_checkpoints_are_clear_errors(converted, tmp_path):
    with pytest.raises(PEError, match=r"unknown ADM preset 'imagenet64_cond_270M'; presets: imagenet64_cond_270M_250K, "):
        adm.resolve_flags("imagenet64_cond_270M")
    with pytest.raises(PEError, match=r"unknown ADM flag 'num_channel'; flags: .*num_channels"):
        adm.resolve_flags("guided-diffusion", {"num_channel": 64})
    with pytest.raises(PEError, match="takes a bool"):
        adm.resolve_flags("guided-diffusion", {"learn_sigma": "maybe"})
    with pytest.raises(PEError, match="not divisible by num_heads 5"):
        adm.resolve_flags("guided-diffusion", {"num_heads": 5})
    assert adm.resolve_flags("guided-diffusion", {"dropout": 0.1, "use_fp16": True}) == adm.resolve_flags("guided-diffusion")

    _, checkpoint, _ = converted["improved-270M layout"]
    variant = {"image_size": SIZE, **VARIANTS["improved-270M layout"]}
    wrong = {
        "class_cond": (dict(class_cond=False), r"it has 'label_emb.weight' .* check class_cond"),
        "learn_sigma": (dict(learn_sigma=False), r"'out.2.weight' has shape \[6, 32, 3, 3\], they give \[3, 32, 3, 3\]; check learn_sigma"),
        "scale-shift": (dict(use_scale_shift_norm=False), r"'input_blocks.1.0.emb_layers.1.weight' has shape \[64, 128\], they give \[32, 128\]"),
        "width": (dict(num_channels=64), r"'time_embed.0.weight' has shape \[128, 32\], they give \[256, 64\]; check num_channels"),
        "attention": (dict(attention_resolutions="16,8,4"), r"it has no 'input_blocks.1.1.norm.weight'.*check attention_resolutions"),
        "updown": (dict(resblock_updown=True), r"it has no 'input_blocks.3.0.in_layers.0.weight'"),
    }
    for what, (change, message) in wrong.items():
        with pytest.raises(PEError, match=message):
            adm_unet.convert_checkpoint(checkpoint, tmp_path / what, "guided-diffusion", {**variant, **change})
        assert not (tmp_path / what).exists(), "a failed conversion writes nothing"
    assert [p.name for p in tmp_path.iterdir()] == []

    not_a_state_dict = tmp_path / "other.pt"
    torch.save({"model": [1, 2]}, not_a_state_dict)
    with pytest.raises(PEError, match="not a state dict of tensors"):
        adm_unet.convert_checkpoint(not_a_state_dict, tmp_path / "x", "guided-diffusion", variant)
    with pytest.raises(PEError, match="does not exist"):
        adm_unet.convert_checkpoint(tmp_path / "missing.pt", tmp_path / "x", "guided-diffusion", variant)


def test_a_conversion_is_written_once_and_never_overwritten_by_another(converted, tmp_path):
    _, checkpoint, record = converted["improved-270M layout"]
    folder = checkpoint.with_suffix("")
    variant = {"image_size": SIZE, **VARIANTS["improved-270M layout"]}
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert adm_unet.convert_checkpoint(checkpoint, folder, "guided-diffusion", variant) == record  # kept as it is
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    assert adm.verify_folder(folder)["digest"] == record["digest"] == adm.folder_digest(adm.folder_files(folder))
    assert record["source"]["sha256"] == adm._sha256(checkpoint)
    assert set(record["files"]) == {"unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"}

    with pytest.raises(PEError, match="exists and is a conversion of .* with other flags"):
        adm_unet.convert_checkpoint(checkpoint, folder, "guided-diffusion", {**variant, "diffusion_steps": 4000})
    _, other_checkpoint, _ = converted["guided-64x64 layout"]
    with pytest.raises(PEError, match="exists and is a conversion of another checkpoint"):
        adm_unet.convert_checkpoint(other_checkpoint, folder, "guided-diffusion", {"image_size": SIZE, **VARIANTS["guided-64x64 layout"]})
    assert adm.verify_folder(folder)["digest"] == record["digest"], "the existing conversion is untouched"

    copy = tmp_path / "copy"
    replaced = adm_unet.convert_checkpoint(checkpoint, copy, "guided-diffusion", variant)
    assert replaced["digest"] == record["digest"], "the same checkpoint and flags give the same files"
    forced = adm_unet.convert_checkpoint(checkpoint, copy, "guided-diffusion", {**variant, "diffusion_steps": 4000}, force=True)
    assert forced["digest"] != record["digest"]
    (copy / "unet" / "config.json").write_text("{}")
    with pytest.raises(PEError, match="differs from its adm_conversion.json"):
        adm.verify_folder(copy)


def test_the_command_line_converts_lists_presets_and_names_a_typo(converted, tmp_path):
    _, checkpoint, record = converted["guided-64x64 layout"]
    variant = VARIANTS["guided-64x64 layout"]
    flags = [f"--{k}={v}" for k, v in {"image_size": SIZE, **variant}.items()]
    command = [sys.executable, "-m", "private_evolution.convert_adm"]
    done = subprocess.run([*command, str(checkpoint), str(tmp_path / "cli"), "--preset", "guided-diffusion", *flags,
                           "--dropout", "0.1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"wrote {tmp_path / 'cli'} (digest {record['digest']})" in done.stdout
    assert json.loads((tmp_path / "cli" / adm.CONVERSION_FILE).read_text())["ignored_flags"] == {"dropout": "0.1"}
    listed = subprocess.run([*command, "--list-presets"], capture_output=True, text=True)
    assert "imagenet64_cond_270M_250K:" in listed.stdout and "--num_head_channels 64" in listed.stdout
    typo = subprocess.run([*command, str(checkpoint), str(tmp_path / "typo"), "--preset", "64x64-diffusion"],
                          capture_output=True, text=True)
    assert typo.returncode == 2 and "unknown ADM preset '64x64-diffusion'; presets: " in typo.stderr
    assert not (tmp_path / "typo").exists()


def test_the_api_runs_a_converted_folder_end_to_end(converted):
    _, checkpoint, record = converted["improved-270M layout"]
    config = {"name": "diffusion_unet", "diffusion_unet": {
        "model": str(checkpoint.with_suffix("")), "steps": 4, "device": "cpu", "batch_size": 2,
        "class_map": {"cat": [281, 282], "dog": [207]}}}
    api = make_api(config, ["cat", "dog"], 28, 3)
    labels = np.array([0, 1, 0])
    population = api.random_api(labels, per_sample_seeds(0, 3, "random"))
    assert population.images.shape == (3, 28, 28, 3) and population.images.std() > 0
    assert set(population.state["model_class"][labels == 0]) <= {281, 282} and population.state["model_class"][1] == 207
    unet, scheduler = api.loaded()[:2]
    assert type(unet).__name__ == "ADMUNet2DModel" and scheduler.config.num_train_timesteps == record["flags"]["diffusion_steps"]
    varied = api.variation_api(population, 0.5, per_sample_seeds(0, 3, "variation"))
    assert (varied.state["model_class"] == population.state["model_class"]).all()
    assert not (varied.images == population.images).all()
    same = api.variation_api(Population(population.images, labels, population.state), 0.0, per_sample_seeds(0, 3, "v"))
    assert (same.images == population.images).all()
    bad = make_api({**config, "diffusion_unet": {**config["diffusion_unet"], "class_map": {"cat": [1000], "dog": [1]}}},
                   ["cat", "dog"], 28, 3)
    with pytest.raises(PEError, match=r"outside 0\.\.999"):
        bad.random_api(labels, per_sample_seeds(0, 3, "random"))
