"""`imgtrans models` and `imgtrans info`: what can be run, without importing torch
(sizes and parameter counts come from the safetensors header)."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from imgtrans.checkpoints.weights import WeightsError, parameter_count
from imgtrans.cli.common import human_size, print_table, state


def _row(registry, spec) -> dict:
    located = registry.locate(spec)
    crop = spec.preprocess.crop_size or spec.preprocess.load_size
    return {
        "name": spec.name,
        "family": spec.family,
        "direction": spec.direction,
        "summary": spec.summary,
        "weights": located.status,
        "path": str(located.path) if located.path else None,
        "url": spec.weights.url,
        "size": located.path.stat().st_size if located.path else None,
        "plugin": registry.owners.get(spec.name),
        "trained_size": f"{crop}x{crop}" if crop else None,
        "license": spec.license,
        "source": spec.source,
        "source_sha256": spec.weights.sha256 or _recorded_sha256(located.path),
        "card": spec.card.to_dict() if spec.card is not None else None,
    }


def _recorded_sha256(path) -> str | None:
    """A download's or import's source sha256, recorded in its file when it was made."""
    if path is None:
        return None
    try:
        from imgtrans.checkpoints.weights import read_info

        return read_info(path).source_sha256 or None
    except WeightsError:
        return None


def register(app: typer.Typer) -> None:
    @app.command("models", rich_help_panel="Use models")
    def models_command(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per model, one per line.")] = False,
    ) -> None:
        """List the models you can run and where their weights are
        (shipped, cached, downloadable or missing)."""
        registry = state(ctx).registry
        rows = [_row(registry, spec) for spec in sorted(registry.models.values(), key=lambda s: s.name)]
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row))
            return
        if not rows:
            state(ctx).note("no models registered; `imgtrans weights import` adds one")
            return
        print_table(
            ["NAME", "FAMILY", "DIRECTION", "WEIGHTS", "SIZE"],
            [[r["name"], r["family"], r["direction"], r["weights"], human_size(r["size"])] for r in rows],
        )

    @app.command("info", rich_help_panel="Use models")
    def info_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Model name (see `imgtrans models`).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Architecture, parameter count, preprocessing, source and licence of a model."""
        app_state = state(ctx)
        registry = app_state.registry
        spec = registry.model(model)  # an unknown model or family: one line from cli.common.guard
        family = registry.family(spec.family)
        located = registry.locate(spec)
        config = dict(spec.config)
        parameters, detected = None, None
        if located.path is not None:
            try:
                from imgtrans.checkpoints.weights import PREFIX, read_info

                stored = read_info(located.path)
                config = stored.config
                parameters = parameter_count(located.path)
                detected = json.loads(stored.raw[PREFIX + "detected"]) if PREFIX + "detected" in stored.raw else None
            except WeightsError as exc:
                app_state.warn(str(exc))
        made = family.make_config(config)
        full_config = dataclasses.asdict(made)
        multiple = family.pad_multiple(made) if family.kind == "translate" else None
        info = {
            **_row(registry, spec),
            "family_summary": family.summary,
            "architecture": full_config,
            "parameters": parameters,
            "preprocess": spec.preprocess.to_dict(),
            "preprocess_text": spec.preprocess.describe(),
            "labels": list(spec.labels),
            "pad_multiple": multiple,
            "precision_psnr": dict(spec.precision_psnr),
            "detected": detected,
        }
        if as_json:
            typer.echo(json.dumps(info, indent=2))
            return
        lines = [
            f"{spec.name}  {spec.summary}",
            f"  family       {spec.family} ({family.summary})",
            f"  direction    {spec.direction or '-'}",
            "  architecture " + ", ".join(f"{k}={v}" for k, v in full_config.items()),
            f"  parameters   {parameters:,}" if parameters is not None else "  parameters   (weights not present)",
            f"  preprocess   {spec.preprocess.describe()}",
        ]
        if detected is not None:
            lines.append(f"  detected     {detected['architecture']} (read from the imported file)")
            lines += [f"  assumed      {k}: {why}" for k, why in detected.get("assumed", {}).items()]
        if multiple is not None:
            lines.append(f"  padding      sides padded to a multiple of {multiple} "
                         "(ONNX inputs must be multiples of it)")
        if spec.precision_psnr:
            measured = ", ".join(f"{p} {db:.1f} dB" for p, db in spec.precision_psnr.items())
            lines.append(f"  precision    vs fp32 on the example photos: {measured}")
        if spec.labels:
            lines.append(f"  labels       {', '.join(spec.labels)}")
        lines += [
            f"  weights      {info['weights']} {info['path'] or info['url'] or ''}",
            f"  source       {spec.source or '-'}",
            f"  sha256       {info['source_sha256'] or ('recorded at first download' if spec.weights.url else '-')}",
            f"  licence      {spec.license}",
            f"  trained at   {info['trained_size'] or '-'}",
        ]
        card = spec.card
        if card is None:
            lines.append("  card         none (the plugin gives no model card)")
        else:
            lines += [f"  quality      {card.quality}", f"  example      {card.example}"]
            lines += [f"  fails when   {mode}" for mode in card.failure_modes]
            if card.scale is not None:
                lines.append(f"  scale        {card.scale.figures} ({card.scale.command})")
        typer.echo("\n".join(lines))
