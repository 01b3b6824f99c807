"""Matplotlib figures used by the lessons."""

from __future__ import annotations

import matplotlib.pyplot as plt

from tlcourse.scratch_vs_pretrained import Comparison

COLOURS = {True: "tab:blue", False: "tab:orange"}
LABELS = {True: "ImageNet start", False: "from scratch"}


def plot_comparison(comparison: Comparison):
    """Left: validation accuracy per epoch (one faint line per seed). Right: training seconds per run."""
    fig, (curves, times) = plt.subplots(1, 2, figsize=(11, 4))
    for pretrained, runs in ((True, comparison.pretrained), (False, comparison.scratch)):
        for i, run in enumerate(runs):
            curves.plot(range(1, len(run.history) + 1), run.history, color=COLOURS[pretrained], alpha=0.5,
                        marker="o", label=LABELS[pretrained] if i == 0 else None)
        seconds = [r.seconds for r in runs]
        times.bar(LABELS[pretrained], sum(seconds) / len(seconds), color=COLOURS[pretrained], alpha=0.6)
        times.scatter([LABELS[pretrained]] * len(seconds), seconds, color="black", zorder=3, s=12)
    chance = 1 / 5 if comparison.dataset == "photos5" else None
    if chance:
        curves.axhline(chance, color="grey", linestyle=":", label="chance")
    curves.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1),
               title=f"{comparison.model} on {comparison.dataset}, {comparison.images_per_class} images per class")
    curves.legend()
    times.set(ylabel="training seconds", title="time for the same number of epochs")
    fig.tight_layout()
    return fig


def plot_top_k(image, predictions: list[tuple[str, float]], title: str = ""):
    """An image beside a bar chart of the model's top-k classes."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [1, 1.4]})
    left.imshow(image)
    left.axis("off")
    labels, probs = zip(*reversed(predictions))
    right.barh(labels, probs, color="tab:blue")
    right.set(xlim=(0, 1), xlabel="probability", title=title)
    fig.tight_layout()
    return fig


def plot_filters(weight, columns: int = 8):
    """First-layer convolution filters (out, 3, k, k) as small colour images, each rescaled to 0-1."""
    import numpy as np
    weight = weight.detach().cpu().float()
    rows = int(np.ceil(len(weight) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns, rows))
    for ax, kernel in zip(axes.flat, weight):
        kernel = (kernel - kernel.min()) / (kernel.max() - kernel.min() + 1e-8)
        ax.imshow(kernel.permute(1, 2, 0).numpy(), interpolation="nearest")
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{len(weight)} first-layer filters ({weight.shape[-1]}x{weight.shape[-1]} pixels, RGB)")
    return fig


def plot_activations(image, stage_outputs: list, channels: int = 6):
    """The input photo, then the most active channels after a few body stages (brighter = stronger)."""
    fig, axes = plt.subplots(len(stage_outputs), channels + 1, figsize=(1.6 * (channels + 1), 1.7 * len(stage_outputs)))
    for row, (stage, activation) in zip(axes, stage_outputs):
        row[0].imshow(image)
        row[0].set_title("input" if stage == stage_outputs[0][0] else "", fontsize=8)
        strongest = activation.mean(dim=(1, 2)).argsort(descending=True)[:channels]
        for ax, channel in zip(row[1:], strongest):
            ax.imshow(activation[channel].numpy(), cmap="magma")
            ax.set_title(f"stage {stage} ch {int(channel)}", fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_depth_probe(probe):
    """Linear-probe accuracy against body stage: one faint line per seed, the mean, and the random-weights control."""
    fig, ax = plt.subplots(figsize=(6, 4))
    stages = range(len(probe.mean_by_stage))
    for row in probe.accuracies:
        ax.plot(stages, row, color="tab:blue", alpha=0.3, marker="o")
    ax.plot(stages, probe.mean_by_stage, color="tab:blue", marker="o", linewidth=2.5, label="ImageNet weights")
    ax.plot(stages, probe.random_mean_by_stage, color="tab:orange", marker="s", linewidth=2,
            label="random weights (control)")
    ax.axhline(0.2, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="body stage (0 = first, 4 = last)", ylabel="linear-probe accuracy", ylim=(0, 1),
           xticks=list(stages), title=f"What a straight line can separate, stage by stage ({probe.model})")
    ax.legend()
    return fig


def plot_sweep(sweep, xlabel: str):
    """Accuracy (left axis) and training seconds (right axis) against the sweep's setting."""
    fig, ax = plt.subplots(figsize=(7, 4))
    settings = sweep.settings()
    for point in sweep.points:
        ax.scatter(point.setting, point.accuracy, color="tab:blue", alpha=0.35, s=15)
    ax.plot(settings, sweep.mean("accuracy"), color="tab:blue", marker="o", label="accuracy")
    ax.set(xlabel=xlabel, ylabel="validation accuracy", ylim=(0, 1), xticks=settings)
    seconds = ax.twinx()
    seconds.plot(settings, sweep.mean("seconds"), color="tab:red", marker="s", linestyle="--", label="seconds")
    seconds.set(ylabel="training seconds", ylim=(0, None))
    fig.legend(loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout()
    return fig


def plot_advantages(adv, target: float) -> list:
    """One figure per advantage: (1) accuracy vs data, (2) accuracy vs seconds, (3) the gap, (4) FLOPs."""
    import numpy as np
    labels = [str(s) if s else "all" for s in adv.sizes]
    figures = [plt.subplots(figsize=(5, 3.5)) for _ in range(4)]
    (data_fig, data_ax), (time_fig, time_ax), (gap_fig, gap_ax), (flops_fig, flops_ax) = figures
    for pretrained in (True, False):
        accs = [adv.accuracy(pretrained, s) for s in adv.sizes]
        data_ax.errorbar(labels, [np.mean(a) for a in accs], yerr=[np.std(a) for a in accs], capsize=3,
                         color=COLOURS[pretrained], marker="o", label=LABELS[pretrained])
        for i, run in enumerate(adv._to_target(pretrained)):
            cumulative = [adv.flops(pretrained, e) / 1e12 for e in range(1, len(run.history) + 1)]
            time_ax.plot(cumulative, run.history, color=COLOURS[pretrained], marker="o", alpha=0.7,
                         label=LABELS[pretrained] if i == 0 else None)
        epochs = len(adv._at(pretrained, None)[0].history)
        flops_ax.bar(LABELS[pretrained], adv.flops(pretrained, epochs) / 1e12, color=COLOURS[pretrained], alpha=0.7)
    gaps = [100 * (np.mean(adv.accuracy(True, s)) - np.mean(adv.accuracy(False, s))) for s in adv.sizes]
    gap_ax.bar(labels, gaps, color="tab:green", alpha=0.7)
    data_ax.set(xlabel="training images per class", ylabel="validation accuracy", ylim=(0, 1),
                title="(1) less data needed")
    time_ax.axhline(target, color="grey", linestyle=":", label=f"target {target:.2f}")
    time_ax.set(xlabel="training TFLOPs (time grows with them)", ylabel="validation accuracy", ylim=(0, 1),
                title="(2) less time to a target (all data)")
    gap_ax.set(xlabel="training images per class", ylabel="points above scratch",
               title="(3) better performance on small data")
    flops_ax.set(ylabel="TFLOPs per training run", title="(4) less compute, same epochs (all data)")
    data_ax.legend()
    time_ax.legend()
    for fig, _ in figures:
        fig.tight_layout()
    return [fig for fig, _ in figures]


def plot_model_choice(choice, estimate: str = "LogME"):
    """Each candidate's transferability estimate against its fine-tuned accuracy (whole models vs cuts)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in choice.candidates:
        ax.scatter(c.scores[estimate], c.accuracy, s=40 + 8 * c.parameters_m,
                   color="tab:blue" if c.stages == 5 else "tab:orange", alpha=0.7)
        ax.annotate(c.name, (c.scores[estimate], c.accuracy), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.scatter([], [], color="tab:blue", label="whole body")
    ax.scatter([], [], color="tab:orange", label="body cut after stage 4")
    ax.set(xlabel=f"{estimate} on frozen features (before any fine-tuning)", ylabel="accuracy after fine-tuning",
           title=f"Rank correlation {choice.correlation(estimate):.2f}; estimates cost "
                 f"{100 * choice.cost_ratio:.0f}% of fine-tuning")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_negative_transfer(result):
    """Left: accuracy of a head on each start's frozen body, cut after each stage (random weights = the control).
    Right: LogME of the same frozen features, computed before training."""
    fig, (acc_ax, score_ax) = plt.subplots(1, 2, figsize=(11, 4))
    stages = range(1, 6)
    for (source, transfer), colour in zip(result.transfers.items(), ("tab:blue", "tab:red", "black")):
        style = "--" if colour == "black" else "-"
        acc_ax.plot(stages, [transfer.frozen_accuracy(s) for s in stages], marker="o", color=colour, linestyle=style,
                    label=source)
        score_ax.plot(stages, [transfer.stage_logme(s) for s in stages], marker="o", color=colour, linestyle=style,
                      label=source)
    acc_ax.axhline(0.1, color="grey", linestyle=":", label="chance")
    acc_ax.set(xlabel="frozen stages transferred", ylabel="validation accuracy", ylim=(0, 1), xticks=list(stages),
               title=f"Target: {result.target}, {result.images_per_class} per class")
    score_ax.set(xlabel="frozen stages transferred", ylabel="LogME (higher = more transferable)", xticks=list(stages),
                 title="The warning before training")
    acc_ax.legend()
    score_ax.legend()
    fig.tight_layout()
    return fig


def plot_adaptation(results: list):
    """Target-test accuracy of each adaptation method, one panel per case, oracle as a dashed line."""
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, result in zip(axes[0], results):
        methods = list(result.accuracy)
        colours = ["grey" if m == "source only" else "tab:blue" for m in methods]
        ax.bar(methods, [result.accuracy[m] for m in methods], color=colours, alpha=0.8)
        if result.oracle is not None:
            ax.axhline(result.oracle, color="black", linestyle="--", label="oracle (target labels)")
            ax.legend(loc="upper left", fontsize=8)
        low = min(result.accuracy.values())
        ax.set(ylim=(max(0, low - 0.15), 1), title=result.case, ylabel="accuracy on held-out target")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def plot_clusters(clustering, maps: dict):
    """t-SNE maps of each representation, coloured by the hidden labels (revealed only here)."""
    fig, axes = plt.subplots(1, len(maps), figsize=(4.5 * len(maps), 4.2))
    for ax, (name, points) in zip(axes, maps.items()):
        for index, label in enumerate(clustering.classes):
            chosen = clustering.hidden_labels == index
            ax.scatter(points[chosen, 0], points[chosen, 1], s=10, alpha=0.7, label=label)
        ax.set(title=f"{name}: NMI {clustering.scores[name].mean_nmi:.2f}", xticks=[], yticks=[])
    axes[-1].legend(fontsize=8, markerscale=2, loc="best")
    fig.suptitle(f"{clustering.dataset}: t-SNE of each representation, coloured by the hidden labels")
    fig.tight_layout()
    return fig


def plot_anomaly_detection(detection, cells: int = 4):
    """Left: ROC curve of each feature kind (last seed). Right: the most anomalous defective and good test cells,
    each with the ImageNet body's patch distances over it (brighter = farther from every good patch)."""
    import numpy as np
    import torch
    from sklearn.metrics import roc_curve
    fig = plt.figure(figsize=(13, 4.2))
    grid = fig.add_gridspec(2, cells + 2)
    roc = fig.add_subplot(grid[:, :2])
    for kind, scores in detection.scores.items():
        false_alarms, found, _ = roc_curve(detection.test_labels, scores)
        roc.plot(false_alarms, found, label=f"{kind} (AUROC {detection.auroc[kind][-1]:.2f})")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    roc.set(xlabel="good cells flagged (false alarms)", ylabel="defective cells flagged",
            title=f"memory bank of {detection.bank_cells} good cells")
    roc.legend(fontsize=8, loc="lower right")
    scores = detection.scores["ImageNet body"]
    for row, label in enumerate((1, 0)):
        chosen = np.flatnonzero(detection.test_labels == label)
        chosen = chosen[np.argsort(-scores[chosen])][:cells]
        for column, index in enumerate(chosen):
            ax = fig.add_subplot(grid[row, column + 2])
            image = detection.test_images[index].mean(0)
            heat = torch.nn.functional.interpolate(detection.distance_maps[index][None, None], size=image.shape,
                                                   mode="bilinear")[0, 0]
            ax.imshow(image, cmap="gray")
            ax.imshow(heat, cmap="inferno", alpha=0.45, vmin=float(detection.distance_maps.min()),
                      vmax=float(detection.distance_maps.max()))
            ax.set(xticks=[], yticks=[], title=f"{'defective' if label else 'good'}: {scores[index]:.1f}")
    fig.tight_layout()
    return fig


def plot_detections(runs, scenes, count: int = 5, min_score: float = 0.3):
    """One row per detector run: the first `count` scenes with the true boxes (white, dashed) and the
    detections scoring at least `min_score` (coloured by class, with the class and score). No runs: one row of
    scenes with their true boxes and classes."""
    import matplotlib.patches as patches
    import torch

    from tlcourse.assets.models import get_model_spec
    from tlcourse.detection import MODEL
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in get_model_spec(MODEL).stats)
    colours = plt.get_cmap("tab10")
    rows = max(1, len(runs))
    fig, axes = plt.subplots(rows, count, figsize=(2.6 * count, 2.8 * rows), squeeze=False)
    for row, run in zip(axes, runs or [None]):
        for index, ax in enumerate(row):
            ax.imshow((scenes.images[index] * std + mean).clamp(0, 1).permute(1, 2, 0))
            ax.set(xticks=[], yticks=[])
            truth = scenes.targets[index]
            for (x0, y0, x1, y1), label in zip(truth["boxes"].tolist(), truth["labels"].tolist()):
                ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white",
                                               linestyle="--", linewidth=1))
                if run is None:
                    ax.text(x0, y0, scenes.classes[label - 1], color="black", fontsize=7,
                            bbox={"facecolor": "white", "pad": 1, "linewidth": 0})
            if run is None:
                continue
            found = run.detections[index]
            for box, score, label in zip(found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist()):
                if score < min_score:
                    continue
                x0, y0, x1, y1 = box
                ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colours(label),
                                               linewidth=2))
                ax.text(x0, y0, f"{scenes.classes[label - 1]} {score:.2f}", color="white", fontsize=7,
                        bbox={"facecolor": colours(label), "pad": 1, "linewidth": 0})
            row[0].set_ylabel(f"{run.body}\nmAP@0.5 {run.map50:.2f}")
    fig.suptitle(f"true boxes dashed, detections scoring at least {min_score} in colour" if runs
                 else "scenes and their true boxes")
    fig.tight_layout()
    return fig


def plot_faces(pictures: list, found: list, names: list[str]):
    """Each picture with the face boxes a ready-made detector found in it, and their probabilities."""
    import matplotlib.patches as patches
    fig, axes = plt.subplots(1, len(pictures), figsize=(3.6 * len(pictures), 3.6), squeeze=False)
    for ax, picture, (boxes, probabilities), name in zip(axes[0], pictures, found, names):
        ax.imshow(picture)
        for (x0, y0, x1, y1), probability in zip(boxes, probabilities):
            ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="yellow", linewidth=2))
            ax.text(x0, y0, f"face {probability:.2f}", color="black", fontsize=8,
                    bbox={"facecolor": "yellow", "pad": 1, "linewidth": 0})
        ax.set(xticks=[], yticks=[], title=f"{name}: {len(boxes)} face{'s' if len(boxes) != 1 else ''}")
    fig.tight_layout()
    return fig


def plot_deployment(deployment, batch: int = 32):
    """Accuracy against latency for every variant (numbered; the legend names them), a dot's area its file size."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for number, variant in enumerate(deployment.variants, 1):
        latency = deployment.latency_ms[variant.name][batch]
        ax.scatter(latency, variant.accuracy, s=25 * variant.size_mb, alpha=0.6,
                   color="tab:red" if variant.name.startswith("teacher") else "tab:blue",
                   label=f"{number}  {variant.name}, {variant.size_mb:.1f} MB")
        ax.annotate(str(number), (latency, variant.accuracy), ha="center", va="center", fontsize=9)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.15)
    ax.set(xlabel=f"CPU milliseconds for a batch of {batch} ({deployment.threads} thread(s); log scale)",
           ylabel="validation accuracy", ylim=(0, 1),
           title="Up and to the left is better; a dot's area is its file size")
    ax.legend(loc="lower left", fontsize=8, markerscale=0.4)
    fig.tight_layout()
    return fig


def plot_sentiment(study):
    """Left: accuracy against the number of labels, per method (a dot per seed, the line their mean).
    Right: the same models on the domain they never trained on."""
    from matplotlib.ticker import NullFormatter

    from tlcourse.sentiment import FINE_TUNED, FROZEN, METHODS
    colours = dict(zip(METHODS, ("tab:blue", "tab:green", "tab:orange")))
    fig, (own, other) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, methods, other_domain, domain in ((own, METHODS, False, study.domain),
                                              (other, (FROZEN, FINE_TUNED), True, study.other_domain)):
        for method in methods:
            runs = [r for r in study.runs if r.method == method]
            ax.scatter([r.labels for r in runs], [r.other_domain_accuracy if other_domain else r.accuracy for r in runs],
                       color=colours[method], alpha=0.35, s=15)
            ax.plot(study.sizes, [study.accuracy(method, n, other_domain) for n in study.sizes], marker="o",
                    color=colours[method], label=method)
        ax.axhline(0.5, color="grey", linestyle=":", label="chance")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(xticks=study.sizes, xticklabels=[str(n) for n in study.sizes], ylim=(0.4, 1),
               xlabel=f"labelled {study.domain} sentences", title=f"tested on {domain}")
    own.set(ylabel="accuracy (balanced test set)")
    own.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_translation(study):
    """A panel per child language: held-out chrF for each child training size, as bars (the mean over seeds, a
    dot per seed): the parent alone, the child from scratch, the child from the parent."""
    import numpy as np

    from tlcourse.translation import CHILDREN, FROM_PARENT, FROM_SCRATCH, PARENT_ALONE
    languages = list(dict.fromkeys(r.language for r in study.runs))
    starts = ((PARENT_ALONE, "tab:grey"), (FROM_SCRATCH, "tab:orange"), (FROM_PARENT, "tab:blue"))
    fig, axes = plt.subplots(1, len(languages), figsize=(5.5 * len(languages), 4), sharey=True, squeeze=False)
    for ax, language in zip(axes[0], languages):
        runs = [r for r in study.runs if r.language == language]
        sizes = sorted({r.size for r in runs if r.start != PARENT_ALONE})
        for offset, (start, colour) in zip((-0.27, 0, 0.27), starts):
            for x, size in enumerate(sizes):
                scores = [r.chrf for r in runs if r.start == start and (r.size == size or start == PARENT_ALONE)]
                ax.bar(x + offset, np.mean(scores), width=0.25, color=colour, alpha=0.8,
                       label=start if x == 0 else None)
                ax.scatter([x + offset] * len(scores), scores, color="black", s=8, zorder=3)
        ax.set(xticks=range(len(sizes)), xticklabels=[f"{n} pairs" for n in sizes],
               xlabel=f"{language} -> en training pairs of the child", title=CHILDREN.get(language, language))
    axes[0][0].set(ylabel="chrF on held-out messages")
    axes[0][0].legend(loc="upper left", fontsize=8)
    axes[0][0].set_ylim(0, 1.3 * max(r.chrf for r in study.runs))
    fig.tight_layout()
    return fig


def plot_spectrograms(examples: dict, model):
    """One panel per domain: the log-mel spectrogram the speech model hears (80 mel bands, 10 ms steps) of
    `examples[domain]`, a 16 kHz clip."""
    fig, axes = plt.subplots(1, len(examples), figsize=(2.6 * len(examples), 2.8), sharey=True, squeeze=False)
    for ax, (domain, audio) in zip(axes[0], examples.items()):
        ax.imshow(model.feature_extractor(audio)[:, :-1], origin="lower", aspect="auto", cmap="magma")
        ax.set(title=domain, xlabel="time (10 ms steps)")
    axes[0][0].set(ylabel="mel band")
    fig.tight_layout()
    return fig


def plot_speech(words, strings, study):
    """Left: the share of single digits transcribed right and of digit strings' words, per domain. Right: the
    classifiers' accuracy on each new domain against the labelled clips per digit added to the US ones (a dot
    per seed, the line their mean), frozen encoder (solid) and log-mel control (dashed), with the US-trained
    accuracy on the worst other English accent."""
    import numpy as np

    from tlcourse.speech import ENCODER, LOG_MEL
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    domains = list(words.table().index)
    x = np.arange(len(domains))
    left.bar(x - 0.2, [words.accuracy(d) for d in domains], width=0.4, label="single digits: right")
    left.bar(x + 0.2, [max(0.0, 1 - strings.error_rate(d)) for d in domains], width=0.4,
             label="strings of ten digits: 1 - word error rate")
    left.set(xticks=x, xticklabels=[d.replace("_", " ") for d in domains], ylim=(0, 1.25), yticks=np.linspace(0, 1, 6),
             title="Whisper tiny.en transcribing, no training")
    left.legend(loc="upper center", ncol=2, fontsize=8)
    targets = list(dict.fromkeys(r.domain for r in study.runs if r.shots))
    shots = sorted({r.shots for r in study.runs})
    english = [d for d in dict.fromkeys(r.domain for r in study.runs) if d not in targets and d != "us"]
    for features, style in ((ENCODER, "-"), (LOG_MEL, "--")):
        for domain in targets:
            line, = right.plot(shots, [study.accuracy(domain, n, features) for n in shots], marker="o",
                               linestyle=style, label=f"{domain}: {features}")
            runs = [r for r in study.runs if r.features == features and r.domain == domain]
            right.scatter([r.shots for r in runs], [r.accuracy for r in runs], color=line.get_color(), s=12,
                          alpha=0.4)
        right.axhline(min(study.accuracy(d, 0, features) for d in english), color="tab:green", linestyle=style,
                      linewidth=1, label=f"worst English accent, no added clips: {features}")
    right.axhline(0.1, color="grey", linestyle=":", label="chance")
    right.set(xticks=shots, xlabel="labelled clips per digit of the new domain (plus the US ones)",
              ylabel="digit accuracy, held-out voices", ylim=(0, 1.05),
              title="digit classifiers trained on US voices")
    right.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def plot_tuning(study):
    """Digits right on held-out voices, a group of bars per domain and a bar per model (before tuning, then one
    per tuning set), a dot per seed."""
    import numpy as np

    from tlcourse.speech import DOMAINS
    frame = study.table()
    models, domains = list(frame.index), list(frame.columns)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        x = np.arange(len(domains)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, [frame.loc[model, d] for d in domains], width=width * 0.95, label=model)
        for xi, domain in zip(x, domains):
            seeds = study.accuracies(model, domain)
            ax.scatter([xi] * len(seeds), seeds, color="black", s=10, zorder=3)
    ax.set(xticks=np.arange(len(domains)), xticklabels=[DOMAINS[d] for d in domains], ylim=(0, 1.05),
           ylabel="single digits right, held-out voices",
           title=f"Whisper tiny.en's decoder fine-tuned ({study.window_seconds:g} s window; a dot per seed)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig
