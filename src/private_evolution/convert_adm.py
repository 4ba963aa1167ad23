"""Convert an OpenAI ADM checkpoint (improved-diffusion, guided-diffusion) into a diffusers folder.

    python -m private_evolution.convert_adm imagenet64_cond_270M_250K.pt models/imagenet64_cond_270M \\
        --preset imagenet64_cond_270M_250K
    python -m private_evolution.convert_adm my_run.pt models/my_run --preset improved-diffusion \\
        --image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True   # a README's MODEL_FLAGS
    python -m private_evolution.convert_adm --list-presets

The folder (``unet/``, ``scheduler/``, ``adm_conversion.json``) is what
``api.diffusion_unet.model`` names. It is written once: run again with the same
checkpoint and flags and the existing folder is kept; another folder there is an
error unless --force. Prints the flags used and the folder's digest.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import PEError


def _parser():
    from .adm import GUIDED_DEFAULTS, IGNORED_FLAGS

    parser = argparse.ArgumentParser(
        prog="python -m private_evolution.convert_adm",
        description="Convert an improved-/guided-diffusion checkpoint into a diffusers folder for api.diffusion_unet.",
    )
    parser.add_argument("checkpoint", nargs="?", help="the .pt file (a state dict, as the reference code saves)")
    parser.add_argument("out_dir", nargs="?", help="the folder to write (unet/, scheduler/, adm_conversion.json)")
    parser.add_argument("--preset", help="named flags of a published checkpoint, or a code base's defaults (required; --list-presets)")
    parser.add_argument("--list-presets", action="store_true", help="print the presets and their flags, then exit")
    parser.add_argument("--force", action="store_true", help="replace an existing folder that holds another conversion")
    flags = parser.add_argument_group("reference flags (as in MODEL_FLAGS / DIFFUSION_FLAGS; over the preset's)")
    for name in GUIDED_DEFAULTS:
        flags.add_argument(f"--{name}", dest=f"flag_{name}", metavar="VALUE")
    for name, why in IGNORED_FLAGS.items():
        flags.add_argument(f"--{name}", dest=f"flag_{name}", metavar="VALUE", help=f"accepted, no effect ({why})")
    return parser


def _list_presets() -> str:
    from .adm import BASES, PRESETS

    lines = []
    for name, preset in PRESETS.items():
        flags = {**BASES[preset.get("base", name)], **preset["flags"]}
        lines.append(f"{name}: {preset['about']}")
        lines.append("    " + " ".join(f"--{k} {v}" for k, v in flags.items() if v != ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_presets:
        print(_list_presets())
        return 0
    if not args.checkpoint or not args.out_dir:
        parser.error("give the checkpoint and the output folder (or --list-presets)")
    if not args.preset:
        parser.error(
            "give --preset: a published checkpoint's name, or improved-diffusion / guided-diffusion for that code's "
            "defaults with your run's flags on top (the two differ: improved-diffusion feeds the model rescaled "
            "timesteps unless --rescale_timesteps False); see --list-presets"
        )
    overrides = {k[len("flag_"):]: v for k, v in vars(args).items() if k.startswith("flag_") and v is not None}
    from pathlib import Path

    from .adm_unet import convert_checkpoint  # torch and diffusers: only when converting

    existed = Path(args.out_dir).exists()
    try:
        record = convert_checkpoint(args.checkpoint, args.out_dir, args.preset, overrides, force=args.force)
    except PEError as err:
        print(f"convert_adm: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: record[k] for k in ("source", "preset", "flags", "model_class", "parameters", "digest")}, indent=2))
    done = "kept the existing conversion" if existed and not args.force else "wrote"
    print(f"\n{done} {args.out_dir} (digest {record['digest']}); use it as\n"
          f"  api: {{name: diffusion_unet, diffusion_unet: {{model: {args.out_dir}}}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
