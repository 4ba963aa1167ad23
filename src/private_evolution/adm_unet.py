"""The ADM UNet as a diffusers model, and the conversion of the reference's checkpoints into it.

See adm.py for the flags, presets and the converted folder's record; this module holds
what needs torch and diffusers (``convert_checkpoint`` writes the folder).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.unets.unet_2d import UNet2DOutput
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D, get_down_block, get_up_block
from torch import nn

from . import PEError
from .adm import (
    CONVERSION_FILE,
    IGNORED_FLAGS,
    SCHEDULER_FOLDER,
    UNET_FOLDER,
    _sha256,
    folder_digest,
    folder_files,
    model_config,
    read_record,
    resolve_flags,
    scheduler_config,
    verify_folder,
)


class ADMUNet2DModel(ModelMixin, ConfigMixin):
    """The ADM UNet (improved-/guided-diffusion) from diffusers' blocks, with a head dimension per level.

    Same parameter names and forward signature as ``UNet2DModel`` (``sample``,
    ``timestep``, ``class_labels``); ``*_attention_head_dims`` give each level's head
    dimension (None: no attention there), ``model_channels`` the timestep embedding's
    width (ADM's, which differs from the first level's channels when channel_mult
    starts below 1), and ``timestep_scale`` multiplies the timestep first (ADM's
    ``rescale_timesteps``: 1000 / diffusion steps).
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int = 64,
        in_channels: int = 3,
        out_channels: int = 3,
        model_channels: int = 128,
        block_out_channels: tuple[int, ...] = (128, 256, 384, 512),
        layers_per_block: int = 2,
        down_attention_head_dims: tuple[int | None, ...] = (None, None, 96, 128),
        up_attention_head_dims: tuple[int | None, ...] = (None, None, 96, 128),
        mid_attention_head_dim: int = 128,
        resnet_time_scale_shift: str = "scale_shift",
        resblock_updown: bool = False,
        num_class_embeds: int | None = None,
        timestep_scale: float = 1.0,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        levels = len(block_out_channels)
        if not (len(down_attention_head_dims) == len(up_attention_head_dims) == levels):
            raise ValueError("down_attention_head_dims and up_attention_head_dims need one entry per level")
        time_embed_dim = model_channels * 4
        self.time_proj = Timesteps(model_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(model_channels, time_embed_dim)
        self.class_embedding = nn.Embedding(num_class_embeds, time_embed_dim) if num_class_embeds else None
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        common = {
            "temb_channels": time_embed_dim,
            "resnet_eps": norm_eps,
            "resnet_act_fn": "silu",
            "resnet_groups": norm_num_groups,
            "resnet_time_scale_shift": resnet_time_scale_shift,
        }
        resample = "resnet" if resblock_updown else "conv"

        self.down_blocks = nn.ModuleList()
        out_ch = block_out_channels[0]
        for level, head_dim in enumerate(down_attention_head_dims):
            in_ch, out_ch = out_ch, block_out_channels[level]
            if head_dim is not None:
                kind = "AttnDownBlock2D"
            else:
                kind = "ResnetDownsampleBlock2D" if resblock_updown else "DownBlock2D"
            self.down_blocks.append(get_down_block(
                kind, num_layers=layers_per_block, in_channels=in_ch, out_channels=out_ch,
                add_downsample=level < levels - 1, downsample_padding=1, downsample_type=resample,
                attention_head_dim=head_dim or out_ch, **common,
            ))

        self.mid_block = UNetMidBlock2D(
            in_channels=block_out_channels[-1], temb_channels=time_embed_dim, resnet_eps=norm_eps,
            resnet_act_fn="silu", resnet_groups=norm_num_groups, attn_groups=norm_num_groups,
            resnet_time_scale_shift=resnet_time_scale_shift, attention_head_dim=mid_attention_head_dim,
        )

        self.up_blocks = nn.ModuleList()
        reversed_channels = list(reversed(block_out_channels))
        out_ch = reversed_channels[0]
        for i, head_dim in enumerate(reversed(up_attention_head_dims)):
            prev_ch, out_ch = out_ch, reversed_channels[i]
            in_ch = reversed_channels[min(i + 1, levels - 1)]
            if head_dim is not None:
                kind = "AttnUpBlock2D"
            else:
                kind = "ResnetUpsampleBlock2D" if resblock_updown else "UpBlock2D"
            self.up_blocks.append(get_up_block(
                kind, num_layers=layers_per_block + 1, in_channels=in_ch, out_channels=out_ch,
                prev_output_channel=prev_ch, add_upsample=i < levels - 1, upsample_type=resample,
                attention_head_dim=head_dim or out_ch, **common,
            ))

        self.conv_norm_out = nn.GroupNorm(norm_num_groups, block_out_channels[0], eps=norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(block_out_channels[0], out_channels, kernel_size=3, padding=1)

    def forward(self, sample: torch.Tensor, timestep, class_labels: torch.Tensor | None = None, return_dict: bool = True):
        timesteps = timestep
        if not torch.is_tensor(timesteps):
            timesteps = torch.tensor([timesteps], device=sample.device)
        elif timesteps.ndim == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps.expand(sample.shape[0])
        if self.config.timestep_scale != 1.0:
            timesteps = timesteps.float() * self.config.timestep_scale
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=self.dtype))
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("this model is class-conditional: give class_labels")
            emb = emb + self.class_embedding(class_labels).to(dtype=self.dtype)
        elif class_labels is not None:
            raise ValueError("this model is not class-conditional: class_labels must be None")

        hidden = self.conv_in(sample)
        skips = [hidden]
        for block in self.down_blocks:
            hidden, outputs = block(hidden_states=hidden, temb=emb)
            skips.extend(outputs)
        hidden = self.mid_block(hidden, emb)
        for block in self.up_blocks:
            count = len(block.resnets)
            hidden = block(hidden, tuple(skips[-count:]), emb)
            del skips[-count:]
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        if not return_dict:
            return (hidden,)
        return UNet2DOutput(sample=hidden)


# --- the state-dict conversion --------------------------------------------------------

_RESNET_PARTS = (
    ("in_layers.0", "norm1"),
    ("in_layers.2", "conv1"),
    ("emb_layers.1", "time_emb_proj"),
    ("out_layers.0", "norm2"),
    ("out_layers.3", "conv2"),
    ("skip_connection", "conv_shortcut"),
)


def _module_pairs(model: ADMUNet2DModel) -> list[tuple[str, str, str]]:
    """(reference module, our module, kind) in the reference's state-dict order."""
    resample = "resnet" if model.config.resblock_updown else "plain"
    pairs = [("time_embed.0", "time_embedding.linear_1", "plain"), ("time_embed.2", "time_embedding.linear_2", "plain")]
    if model.class_embedding is not None:
        pairs.append(("label_emb", "class_embedding", "plain"))
    pairs.append(("input_blocks.0.0", "conv_in", "plain"))
    index = 1
    for level, block in enumerate(model.down_blocks):
        attentions = getattr(block, "attentions", None)
        for j in range(len(block.resnets)):
            pairs.append((f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{j}", "resnet"))
            if attentions is not None:
                pairs.append((f"input_blocks.{index}.1", f"down_blocks.{level}.attentions.{j}", "attention"))
            index += 1
        if block.downsamplers is not None:
            if resample == "resnet":
                pairs.append((f"input_blocks.{index}.0", f"down_blocks.{level}.downsamplers.0", "resnet"))
            else:
                pairs.append((f"input_blocks.{index}.0.op", f"down_blocks.{level}.downsamplers.0.conv", "plain"))
            index += 1
    pairs += [
        ("middle_block.0", "mid_block.resnets.0", "resnet"),
        ("middle_block.1", "mid_block.attentions.0", "attention"),
        ("middle_block.2", "mid_block.resnets.1", "resnet"),
    ]
    index = 0
    for i, block in enumerate(model.up_blocks):
        attentions = getattr(block, "attentions", None)
        last = len(block.resnets) - 1
        for j in range(len(block.resnets)):
            pairs.append((f"output_blocks.{index}.0", f"up_blocks.{i}.resnets.{j}", "resnet"))
            position = 1
            if attentions is not None:
                pairs.append((f"output_blocks.{index}.1", f"up_blocks.{i}.attentions.{j}", "attention"))
                position = 2
            if j == last and block.upsamplers is not None:
                if resample == "resnet":
                    pairs.append((f"output_blocks.{index}.{position}", f"up_blocks.{i}.upsamplers.0", "resnet"))
                else:
                    pairs.append((f"output_blocks.{index}.{position}.conv", f"up_blocks.{i}.upsamplers.0.conv", "plain"))
            index += 1
    pairs += [("out.0", "conv_norm_out", "plain"), ("out.2", "conv_out", "plain")]
    return pairs


def _plan(model: ADMUNet2DModel) -> list[tuple[str, tuple[int, ...], str, str]]:
    """Every reference parameter: (name, shape, our name or attention module, how it converts)."""
    ours = {name: tuple(p.shape) for name, p in model.named_parameters()}
    plan = []

    def plain(ref: str, mine: str):
        for suffix in ("weight", "bias"):
            if f"{mine}.{suffix}" in ours:
                plan.append((f"{ref}.{suffix}", ours[f"{mine}.{suffix}"], f"{mine}.{suffix}", "copy"))

    for ref, mine, kind in _module_pairs(model):
        if kind == "plain":
            plain(ref, mine)
        elif kind == "resnet":
            for ref_part, our_part in _RESNET_PARTS:
                plain(f"{ref}.{ref_part}", f"{mine}.{our_part}")
        else:
            channels = ours[f"{mine}.to_q.weight"][0]
            plain(f"{ref}.norm", f"{mine}.group_norm")
            plan.append((f"{ref}.qkv.weight", (3 * channels, channels, 1), mine, "qkv.weight"))
            plan.append((f"{ref}.qkv.bias", (3 * channels,), mine, "qkv.bias"))
            plan.append((f"{ref}.proj_out.weight", (channels, channels, 1), f"{mine}.to_out.0.weight", "conv1d"))
            plan.append((f"{ref}.proj_out.bias", (channels,), f"{mine}.to_out.0.bias", "copy"))
    return plan


def _hint(key: str) -> str:
    if key.startswith("label_emb"):
        return "class_cond"
    if key.startswith("out.2"):
        return "learn_sigma (6 output channels with it, 3 without)"
    if key.startswith("time_embed"):
        return "num_channels"
    if "emb_layers" in key:
        return "use_scale_shift_norm (doubles this layer) or num_channels / channel_mult"
    if any(part in key for part in (".qkv.", ".proj_out.", ".norm.")):
        return "attention_resolutions"
    if key.endswith(("op.weight", "op.bias")) or ".conv." in key:
        return "resblock_updown"
    return "num_channels, channel_mult, num_res_blocks, attention_resolutions or resblock_updown"


def check_state_dict(state: dict, model: ADMUNet2DModel, flags_text: str = "the flags") -> list:
    """The conversion plan, after checking that ``state`` has exactly the keys and shapes it needs.

    Raises PEError naming the first key (in the reference's order) that is missing or
    of another shape, else the first key the flags do not produce.
    """
    plan = _plan(model)
    for key, shape, _, _ in plan:
        if key not in state:
            raise PEError(
                f"the checkpoint does not fit {flags_text}: it has no '{key}' (shape {list(shape)}), which "
                f"they produce; check {_hint(key)}"
            )
        found = tuple(state[key].shape)
        if found != shape:
            raise PEError(
                f"the checkpoint does not fit {flags_text}: '{key}' has shape {list(found)}, they give "
                f"{list(shape)}; check {_hint(key)}"
            )
    expected = {key for key, _, _, _ in plan}
    extra = [key for key in state if key not in expected]
    if extra:
        raise PEError(
            f"the checkpoint does not fit {flags_text}: it has '{extra[0]}' (shape {list(state[extra[0]].shape)}), "
            f"which they do not produce ({len(extra)} such keys); check {_hint(extra[0])}"
        )
    return plan


def convert_state_dict(state: dict, model: ADMUNet2DModel, flags: dict, flags_text: str = "the flags") -> dict:
    """The reference's state dict as ``model``'s (float32), after ``check_state_dict``."""
    plan = check_state_dict(state, model, flags_text)
    modules = dict(model.named_modules())
    out = {}
    for key, _, target, how in plan:
        value = state[key].detach().to(torch.float32)
        if how == "copy":
            out[target] = value.clone()
        elif how == "conv1d":
            out[target] = value[:, :, 0].clone()
        else:
            heads = modules[target].heads
            channels = value.shape[0] // 3
            head_dim = channels // heads
            if how == "qkv.weight":
                value = value[:, :, 0]
            rest = value.shape[1:]
            if flags["use_new_attention_order"]:
                # QKVAttention: q, k, v are thirds of the channels, each split into heads
                parts = value.reshape(3, channels, *rest)
            else:
                # QKVAttentionLegacy: heads first, then q, k, v within each head
                parts = value.reshape(heads, 3, head_dim, *rest).transpose(0, 1).reshape(3, channels, *rest)
            suffix = how.split(".")[1]
            for name, part in zip(("to_q", "to_k", "to_v"), parts):
                out[f"{target}.{name}.{suffix}"] = part.clone()
    return out


def empty_model(config: dict) -> ADMUNet2DModel:
    """The model with no storage (meta tensors): its structure and shapes only."""
    with torch.device("meta"):
        return ADMUNet2DModel(**config)


def model_from_state_dict(state: dict, flags: dict, flags_text: str = "the flags") -> ADMUNet2DModel:
    """The converted model (float32, eval mode) of a reference state dict and its flags."""
    model = empty_model(model_config(flags))
    converted = convert_state_dict(state, model, flags, flags_text)
    model.load_state_dict(converted, strict=True, assign=True)
    return model.eval()


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A reference checkpoint: a plain state dict of tensors, as the reference's scripts save."""
    path = Path(path)
    if not path.is_file():
        raise PEError(f"ADM checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, truncated files, not a torch file
        raise PEError(f"cannot read ADM checkpoint {path} as a torch state dict: {type(err).__name__}: {err}") from err
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise PEError(f"ADM checkpoint {path} is not a state dict of tensors (as improved-/guided-diffusion save)")
    return state


def convert_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    preset: str | None = None,
    overrides: dict | None = None,
    force: bool = False,
) -> dict:
    """Convert a reference checkpoint into a diffusers folder, once; returns the conversion record.

    The folder gets ``unet/`` (ADMUNet2DModel), ``scheduler/`` (DDIMScheduler) and
    ``adm_conversion.json``. An existing folder converted from the same checkpoint
    with the same flags is kept as it is (its record is returned); any other existing
    folder is an error unless ``force``. The new folder is written beside the target
    and renamed into place, so a failed conversion leaves nothing half-written.
    """
    flags = resolve_flags(preset, overrides)
    ignored = {k: v for k, v in (overrides or {}).items() if k in IGNORED_FLAGS}
    out_dir = Path(out_dir)
    source = Path(checkpoint)
    if not source.is_file():
        raise PEError(f"ADM checkpoint {source} does not exist")
    source_sha = _sha256(source)
    if out_dir.exists():
        record = read_record(out_dir)
        if record and record["source"]["sha256"] == source_sha and record["flags"] == flags:
            verify_folder(out_dir)
            return record
        if not force:
            what = (f"a conversion of {record['source']['path']} with other flags" if record and
                    record["source"]["sha256"] == source_sha else
                    "a conversion of another checkpoint" if record else "not a conversion")
            raise PEError(f"{out_dir} exists and is {what}; choose another folder or pass force (it is then replaced)")
    from diffusers import DDIMScheduler

    flags_text = f"the flags of preset {preset!r}" if preset else "the flags"
    if preset and overrides:
        flags_text += " with " + ", ".join(f"{k}={v}" for k, v in overrides.items() if k not in IGNORED_FLAGS)
    model = model_from_state_dict(load_checkpoint(source), flags, flags_text)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(staging / UNET_FOLDER, safe_serialization=True)
        DDIMScheduler(**scheduler_config(flags)).save_pretrained(staging / SCHEDULER_FOLDER)
        files = folder_files(staging)
        record = {
            "source": {"path": str(source), "name": source.name, "sha256": source_sha},
            "preset": preset,
            "flags": flags,
            "ignored_flags": ignored,
            "model_class": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "files": files,
            "digest": folder_digest(files),
        }
        (staging / CONVERSION_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return record
