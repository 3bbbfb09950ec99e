"""`imgtrans eval` (quality numbers for a model on a dataset's test split) and
`imgtrans classifier train` (the reference classifier those numbers use)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from imgtrans.cli.common import AppState, print_json_line, print_table, state
from imgtrans.cli.resolve import find_target, load_model

CLASSIFIERS = "classifiers"


def classifier_files() -> list[Path]:
    from imgtrans.checkpoints.store import home, shipped_dir

    found = []
    for folder in (home() / CLASSIFIERS, shipped_dir() / CLASSIFIERS):
        if folder.is_dir():
            found += sorted(folder.glob("*.safetensors"))
    return found


def classifier_infos(app_state: AppState) -> list:
    """Headers of the installed classifiers; an unreadable file is named in a warning and skipped."""
    from imgtrans.checkpoints.weights import WeightsError, read_info

    infos = []
    for path in classifier_files():
        try:
            infos.append(read_info(path))
        except WeightsError as exc:
            app_state.warn(str(exc))
    return infos


def find_classifier(app_state: AppState, name: str | None, labels: tuple[str, ...]):
    """A path, a classifier's name, or (no name) the classifier whose labels match."""
    from imgtrans.checkpoints.weights import WeightsError
    from imgtrans.evaluation.classifier import load

    if name is not None:
        candidates = [Path(name)] if Path(name).is_file() else [p for p in classifier_files() if p.stem == name]
        if not candidates:
            known = ", ".join(p.stem for p in classifier_files()) or "none"
            app_state.fail(f"no classifier {name!r} (a .safetensors path or one of: {known})")
    else:
        candidates = [info.path for info in classifier_infos(app_state) if labels and info.labels == labels]
        if not candidates:
            return None
    try:
        return load(candidates[0])
    except WeightsError as exc:
        app_state.fail(str(exc))


def finite_or_none(value):
    """NaN (a class with fewer than two images has no pairwise distance) is not JSON: null instead."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def show(result: dict) -> None:
    """The figures as tables on stdout (--json gives them all)."""
    kind = result["kind"]
    print(f"{result['model']} ({kind}) on {result['data']}")
    if "classifier" in result:
        print(f"classifier {result['classifier']['name']}: "
              f"real test accuracy {fmt(result['classifier']['test_accuracy'], 4)}")
    if kind == "conditional":
        print_table(["label", "acc gen", "acc real", "div gen", "div real", "pix div gen", "pix div real"],
                    [[r["label"], fmt(r["accuracy_generated"]), fmt(r["accuracy_real"]),
                      fmt(r["diversity_generated"], 2), fmt(r["diversity_real"], 2),
                      fmt(r["pixel_diversity_generated"]), fmt(r["pixel_diversity_real"])]
                     for r in result["per_class"]])
        rows = [[name, fmt(result[key]["generated"]), fmt(result[key]["real_test"]), fmt(result[key]["ratio"])]
                for name, key in (("accuracy", "accuracy"), ("diversity (features)", "diversity"),
                                  ("diversity (pixels)", "pixel_diversity"))]
        print_table(["figure", "generated", "real test", "ratio"], rows)
    elif kind == "paired":
        print_table(["test pairs", "L1", "PSNR (dB)", "SSIM"],
                    [[str(result["test_pairs"]), fmt(result["l1"], 4), fmt(result["psnr"], 2), fmt(result["ssim"], 4)]])
    else:
        print_table(["test images", "content L1"], [[str(result["test_images"]), fmt(result["content_l1"], 4)]])
        if "target_share" in result:
            share = result["target_share"]
            print_table([f"classified {result['target']}", "share"],
                        [["translated", fmt(share["translated"])], ["inputs", fmt(share["inputs"])],
                         ["real target domain", fmt(share["real_target_domain"])]])
    if "frechet" in result:
        fd = result["frechet"]
        print_table(["Frechet distance (classifier features: not comparable with papers; --fid is)", "value"],
                    [["generated vs real test", fmt(fd["generated_vs_test"], 2)]]
                    + ([["real train vs real test (floor)", fmt(fd["train_vs_test"], 2)]]
                       if "train_vs_test" in fd else []))


def standard(app_state: AppState, found, data: Path, *, direction: str, device, as_json: bool, with_kid: bool,
             mode: str, inception: Path | None, seeds: int, outputs: Path | None, mirror: str | None) -> int:
    """`eval --fid`: the scores papers report, with the protocol written down."""
    import tempfile

    from imgtrans.checkpoints.store import home
    from imgtrans.device import resolve
    from imgtrans.evaluation import data as eval_data
    from imgtrans.evaluation import fid as fidlib
    from imgtrans.evaluation.suites import standard_scores

    if mode not in fidlib.MODES:
        app_state.fail(f"unknown --mode {mode!r} (choose from {', '.join(fidlib.MODES)})")
    if found.kind != "translate":
        app_state.fail(f"{found.name!r} generates from labels; --fid scores translators on a test split")
    layout = eval_data.layout(data)
    if layout == "conditional":
        app_state.fail(f"{data}: --fid needs a test split of pictures (testA/ testB/, or test/ AB pairs)")
    from imgtrans.cli.download_ui import progress_reporter

    with progress_reporter(app_state, "FID Inception") as (progress, _):
        weights = fidlib.weights_file(inception, mirror=mirror, progress=progress)
    extractor = fidlib.Extractor(weights, device=resolve(device), cache=home() / "fid" / "features")
    first = load_model(app_state, found, device=device, mirror=mirror, quiet=as_json, seed=0, precision="fp32")

    def translator(seed: int):
        model = first if seed == 0 else load_model(app_state, found, device=device, mirror=mirror, quiet=True,
                                                    seed=seed, precision="fp32")
        return model.translate_arrays

    with tempfile.TemporaryDirectory(prefix="imgtrans-fid-") as scratch:
        result = standard_scores(translator, data, layout=layout, direction=direction, channels=first.channels,
                                 extractor=extractor, mode=mode, seeds=list(range(seeds)),
                                 outputs=outputs or Path(scratch), with_kid=with_kid)
    result = {"model": found.name, "data": str(data), "direction": direction, "layout": layout,
              "checkpoint": str(found.path or first.info.path), "inception": str(weights), **result}
    if outputs is None:
        result["outputs"] = None
    if as_json:
        print_json_line(result)
        return 0
    spread = f" +- {result['fid_std']:.2f} over {seeds} seeds" if result["fid_std"] is not None else ""
    print(f"{found.name} on {data} ({layout}, {direction}): FID {result['fid']:.2f}{spread} "
          f"({mode} mode; {result['generated_images']} translated vs {result['real_images']} real, PNG)")
    if with_kid:
        kid_spread = f" +- {result['kid_std']:.5f}" if result["kid_std"] is not None else ""
        print(f"KID {result['kid']:.5f}{kid_spread}")
    print(f"Inception weights {weights} (sha256 {extractor.weights_sha256[:16]}...)")
    if result["small_test_set"]:
        print(f"note: fewer pictures than the {fidlib.FEATURES} feature dimensions: FID is biased upwards at this "
              "size; quote KID" + ("" if with_kid else " (add --kid)") + " and compare FIDs only at equal counts")
    return 0


def register(app: typer.Typer) -> None:
    @app.command("eval", rich_help_panel="Train models")
    def eval_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A model name (see `imgtrans models`).")],
        data: Annotated[Path, typer.Option(
            "--data",
            help="Dataset folder with a test split: t10k-* IDX files (conditional), test/ AB pairs (paired) or testA/ "
                 "testB/ (unpaired).",
        )],
        classifier: Annotated[str | None, typer.Option(
            help="Reference classifier: a name (see `imgtrans classifier list`) or a .safetensors path (default: the "
                 "one whose labels match a conditional model).",
        )] = None,
        target: Annotated[str | None, typer.Option(
            help="Unpaired: the classifier label that translations should get.",
        )] = None,
        direction: Annotated[str, typer.Option(
            help="AtoB or BtoA: which side of the test split is the input.",
        )] = "AtoB",
        n: Annotated[int, typer.Option("-n", min=2, help="Conditional: samples per class.")] = 100,
        seed: Annotated[int, typer.Option(help="Seed for samples, dropout and subsets.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print every figure as one JSON object.")] = False,
        device: Annotated[str | None, typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (env: IMGTRANS_DEVICE).",
        )] = None,
        fid: Annotated[bool, typer.Option(
            "--fid",
            help="FID against the target domain's real test pictures, as pytorch-fid / clean-fid compute it "
                 "(comparable with papers).",
        )] = False,
        kid: Annotated[bool, typer.Option(
            "--kid",
            help="With --fid: also KID (the figure to quote for small test sets).",
        )] = False,
        mode: Annotated[str, typer.Option(
            help="With --fid: clean (clean-fid's default) or legacy-pytorch (pytorch-fid).",
        )] = "clean",
        inception: Annotated[Path | None, typer.Option(
            help="With --fid: the FID Inception weights file (pt_inception-2015-12-05-6726825d.pth; default: "
                 "downloaded on first use into the cache).",
        )] = None,
        seeds: Annotated[int, typer.Option(
            min=1,
            help="With --fid: translate with this many dropout seeds (0, 1, ...): mean and spread.",
        )] = 1,
        outputs: Annotated[Path | None, typer.Option(
            help="With --fid: keep the translated PNGs here (default: a temporary folder).",
        )] = None,
        mirror: Annotated[str | None, typer.Option(
            help="Base URL replacing the host of downloads: the model's weights, the FID Inception's (env: "
                 "IMGTRANS_MIRROR).",
        )] = None,
    ) -> None:
        """Measure a model on a dataset's test split.

        Conditional generators: accuracy of a reference classifier on samples,
        diversity and Frechet distance, each against real test images. Paired
        translators: L1, PSNR and SSIM. Unpaired ones: target-class share and content L1.
        Those classifier figures are this project's own, not comparable with papers;
        --fid (and --kid) give the standard ones, with their protocol (docs/evaluation.md).
        """
        app_state = state(ctx)
        if direction not in ("AtoB", "BtoA"):
            app_state.fail(f"--direction must be AtoB or BtoA, not {direction!r}")
        found = find_target(app_state, model)
        kind = found.kind
        if fid:
            raise typer.Exit(standard(app_state, found, data, direction=direction, device=device, as_json=as_json,
                                      with_kid=kid, mode=mode, inception=inception, seeds=seeds, outputs=outputs,
                                      mirror=mirror))
        if kid or seeds != 1 or outputs is not None or inception is not None or mode != "clean":
            app_state.fail("--kid, --mode, --seeds, --outputs and --inception go with --fid")

        from imgtrans.evaluation import data as eval_data
        from imgtrans.evaluation import suites

        layout = "conditional" if kind == "conditional" else eval_data.layout(data)
        if target is not None and layout != "unpaired":
            app_state.fail(f"--target is for unpaired data (testA/ and testB/); {data} is {layout}")
        loaded = load_model(app_state, found, device=device, mirror=mirror, quiet=as_json, seed=seed, precision="fp32")
        labels = loaded.labels if kind == "conditional" else ()
        reference = find_classifier(app_state, classifier, labels if layout == "conditional" else ())
        if layout == "conditional":
            if reference is None:
                app_state.fail(f"no reference classifier has the labels of {model!r}: pass --classifier")
            if labels and tuple(labels) != tuple(reference.labels):
                app_state.fail(f"{model!r} has labels ({', '.join(labels)}), "
                               f"the classifier {reference.name!r} has ({', '.join(reference.labels)})")
        target_index = None
        if target is not None:
            if reference is None:
                app_state.fail("--target needs --classifier")
            lowered = [label.lower() for label in reference.labels]
            if target.lower() in lowered:
                target_index = lowered.index(target.lower())
            elif target.isdigit() and int(target) < len(reference.labels):
                target_index = int(target)
            else:
                app_state.fail(f"classifier {reference.name!r} has no label {target!r} "
                               f"(known: {', '.join(reference.labels)})")
        if layout == "conditional":
            result = suites.conditional(loaded.generator, reference, data, n=n, seed=seed, device=loaded.device)
        else:
            translator = loaded.translate_arrays
            channels = (loaded.channels, loaded.output_channels)
            if layout == "paired":
                result = suites.paired(translator, data, direction=direction, channels=channels,
                                       classifier=reference, seed=seed)
            else:
                result = suites.unpaired(translator, data, direction=direction, channels=channels,
                                         classifier=reference, target=target_index, seed=seed)
        result = {"model": model, "data": str(data), **result}
        if reference is not None:
            result["classifier"] = {"name": reference.name, "test_accuracy": reference.test_accuracy}
        if as_json:
            print_json_line(finite_or_none(result))
        else:
            show(result)

    classifier_app = typer.Typer(help="Reference classifiers for `imgtrans eval`.", no_args_is_help=True)

    @classifier_app.command("train")
    def classifier_train(
        ctx: typer.Context,
        data: Annotated[Path, typer.Argument(
            help="MNIST-format folder: train-* and t10k-* IDX files (labels.txt for names).",
        )],
        name: Annotated[str, typer.Option("--name", help="Name to save under (used by `imgtrans eval --classifier`).")],
        output: Annotated[Path | None, typer.Option(
            "-o", "--output",
            help="Folder for NAME.safetensors (default: $IMGTRANS_HOME/classifiers).",
        )] = None,
        epochs: Annotated[int, typer.Option(min=1)] = 3,
        seed: Annotated[int, typer.Option()] = 0,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    ) -> None:
        """Train the small CNN on the training split; report its test accuracy."""
        app_state = state(ctx)
        from imgtrans.checkpoints.store import home
        from imgtrans.names import check_component, inside

        folder = output or home() / CLASSIFIERS
        target = inside(folder / f"{check_component(name, 'classifier name')}.safetensors", folder, "classifier file")
        if target.exists() and not overwrite:
            app_state.fail(f"{target}: exists (use --overwrite)")
        import torch

        from imgtrans.evaluation import classifier as reference
        from imgtrans.evaluation import data as eval_data

        train_x, train_y, names = eval_data.labelled(data, "train")
        test_x, test_y, _ = eval_data.labelled(data, "test")
        app_state.note(f"{len(train_x)} training and {len(test_x)} test images, {len(names)} classes")
        net = reference.fit(train_x, train_y, epochs=epochs, seed=seed, log=app_state.note)
        loaded = reference.Classifier(net, names, name, float("nan"))
        accuracy = float((loaded.run(test_x)[0] == torch.from_numpy(test_y)).float().mean())
        reference.save(net, target, name=name, labels=names, test_accuracy=accuracy, data=str(data))
        app_state.note(f"wrote {target}: real test accuracy {accuracy:.4f}")

    @classifier_app.command("list")
    def classifier_list(ctx: typer.Context) -> None:
        """Installed reference classifiers with their labels and test accuracy."""
        from imgtrans.checkpoints.weights import PREFIX

        rows = []
        for info in classifier_infos(state(ctx)):
            accuracy = info.raw.get(PREFIX + "test_accuracy")
            rows.append([info.path.stem, f"{float(accuracy):.4f}" if accuracy else "?", ", ".join(info.labels),
                         str(info.path)])
        print_table(["name", "test acc", "labels", "path"], rows)

    app.add_typer(classifier_app, name="classifier", rich_help_panel="Train models")
