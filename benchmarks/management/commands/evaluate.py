"""manage.py evaluate --dataset DIR: retrieval quality of the descriptor, in memory.

Reads DIR/manifest.csv (see benchmarks.datasets), never the database.
By default the global top-K is re-ranked by SIFT geometric verification
(retrieval.verification); --no-rerank gives the global-descriptor-only figures.
"""

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from retrieval.whitening import POWER, SHRINKAGE

LEVEL_CHOICES = ("none", "low", "medium", "high")


class Command(BaseCommand):
    help = "Evaluate retrieval quality (mAP, top-K) on a labelled image folder."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="folder with manifest.csv")
        parser.add_argument(
            "--occlusion", default="none", help=f"comma list of {', '.join(LEVEL_CHOICES)}"
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the result as JSON"
        )
        parser.add_argument("--limit", type=int, default=None, help="first N manifest rows")
        parser.add_argument(
            "--no-rerank",
            dest="rerank",
            action="store_false",
            help="rank by the global descriptor only (no local-feature verification)",
        )
        parser.add_argument(
            "--no-context",
            dest="context",
            action="store_false",
            help="rank each photo alone (no hotel context: retrieval.context)",
        )
        parser.add_argument("--backbone", help="a backbone of the registry (default: the setting)")
        parser.add_argument("--resolution", type=int, help="long side the network sees (px)")
        parser.add_argument("--normalisation", choices=("imagenet", "tf"), help="input scaling")
        parser.add_argument(
            "--fill", choices=("telea", "blendflip", "grey"), help="how erased pixels are filled"
        )
        parser.add_argument(
            "--learned",
            choices=("none", "known", "unseen"),
            default="known",
            help="learned whitening (part of the serving model), fitted without the queries: "
            "k-fold over photos (known hotels, the default) or over hotels (unseen); on a set "
            "with a query column, on its non-query photos; none: the raw descriptor",
        )
        parser.add_argument("--fit-on", help="fit the learned lever on this labelled folder")
        parser.add_argument("--shrinkage", type=float, default=SHRINKAGE, help="learned whitening")
        parser.add_argument("--power", type=float, default=POWER, help="learned whitening")
        parser.add_argument(
            "--multi",
            type=int,
            metavar="N",
            help="N photos of one group as one query, the group's other photos in the "
            "gallery: compare the fusions of their hotel rankings (benchmarks.multi)",
        )
        parser.add_argument(
            "--reduce",
            type=int,
            metavar="DIM",
            help="rank by PCA projections to DIM dims, learned on the dataset (no labels)",
        )

    def handle(
        self,
        *args,
        dataset,
        occlusion,
        as_json,
        limit,
        rerank=True,
        reduce=None,
        context=True,
        **options,
    ):
        levers = {
            name: options[name]
            for name in ("backbone", "resolution", "normalisation", "fill")
            if options.get(name) is not None
        }
        # Heavy imports here, so `manage.py help` and the web process stay light.
        from tqdm import tqdm

        from benchmarks.datasets import DatasetError, read_manifest
        from benchmarks.quality import DEFAULT_RERANK, evaluate
        from matcher.embedding import runtime_from_settings, serving_config
        from retrieval.descriptors import DescriptorExtractor

        levels = [level.strip() for level in occlusion.split(",") if level.strip()]
        bad = [level for level in levels if level not in LEVEL_CHOICES]
        if bad or not levels:
            raise CommandError(f"--occlusion takes a comma list of {', '.join(LEVEL_CHOICES)}")
        if limit is not None and limit < 2:
            raise CommandError("--limit must be at least 2")
        try:
            items = read_manifest(dataset)[:limit]
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        if not any(item.is_query for item in items):
            raise CommandError("no query images in the selected rows")

        if options.get("multi") is not None:
            return self.multi(items, options["multi"], levers, as_json, dataset)
        if reduce is not None and not 0 < reduce < len(items):
            raise CommandError(f"--reduce must be between 1 and {len(items) - 1} (the images)")
        learned, fit_on = self.learned_lever(options)
        if reduce is not None:  # the PCA index's worst case, measured on the raw descriptor
            if fit_on is not None:
                raise CommandError("--reduce and --fit-on do not combine: give one")
            learned = None
        extractor = DescriptorExtractor(serving_config(**levers), runtime_from_settings())
        with tqdm(desc="embedding", unit="img", file=sys.stderr) as bar:

            def progress(done, total):
                bar.total = total
                bar.update(done - bar.n)

            try:
                result = evaluate(
                    extractor,
                    items,
                    levels,
                    progress,
                    DEFAULT_RERANK if rerank else None,
                    reduce_dim=reduce,
                    learned=learned,
                    fit_on=fit_on,
                    context=context and settings.MATCHER_HOTEL_CONTEXT,
                )
            except ValueError as exc:  # e.g. --fit-on shares photos with --dataset
                raise CommandError(str(exc)) from exc
        result["dataset"] = str(dataset)
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(format_table(result))

    def multi(self, items, n, levers, as_json, dataset):
        from benchmarks.multi import evaluate_multi
        from matcher.embedding import runtime_from_settings, serving_config
        from retrieval.descriptors import DescriptorExtractor

        if n < 2:
            raise CommandError("--multi needs at least 2 photos per query")
        extractor = DescriptorExtractor(serving_config(**levers), runtime_from_settings())
        result = evaluate_multi(extractor, items, n)
        if not result["sets"]:
            raise CommandError(f"no group has {n + 1} photos or more")
        result["dataset"] = str(dataset)
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(
            f"{dataset}: {result['sets']} sets of {n} photos (global descriptor, no "
            f"verification); {extractor.version_key}"
        )
        for name, scores in result["fusions"].items():
            cells = "  ".join(f"{metric} {value:.3f}" for metric, value in scores.items())
            self.stdout.write(f"  {name:11} {cells}")

    def learned_lever(self, options):
        from benchmarks.datasets import DatasetError, read_manifest
        from benchmarks.quality import LearnedLever

        protocol = options.get("learned") or "none"
        if protocol == "none" and not options.get("fit_on"):
            return None, None
        lever = LearnedLever(
            protocol=protocol if protocol != "none" else "known",
            shrinkage=options.get("shrinkage", SHRINKAGE),
            power=options.get("power", POWER),
        )
        if not options.get("fit_on"):
            return lever, None
        try:
            return lever, read_manifest(options["fit_on"])
        except DatasetError as exc:
            raise CommandError(f"--fit-on: {exc}") from exc


def format_table(result):
    """Readable summary: one row per level and variant."""
    version = result["model_version"]["key"]
    lines = [
        f"{result['dataset']}: {result['images']} images, {result['queries']} queries; {version}",
        f"gallery embedding {result['gallery_ms_per_image']} ms/image",
        _rerank_line(result.get("rerank")),
        *_reduction_line(result.get("reduction")),
        "",
        f"{'level':8} {'variant':7} {'mAP':>6} {'top1':>6} {'top10':>6} {'top100':>6}",
    ]
    for level, scores in result["levels"].items():
        variants = {"-": scores} if level == "none" else {k: scores[k] for k in ("grey", "masked")}
        for variant, m in variants.items():
            lines.append(
                f"{level:8} {variant:7} {m['map']:6.3f} {m['top1']:6.3f} "
                f"{m['top10']:6.3f} {m['top100']:6.3f}"
            )
    return "\n".join(lines + _hotel_lines(result))


def _hotel_lines(result):
    """Groups taken as hotels: hotel top-1 / top-10 / MAP@5 of each aggregation, per level."""
    lines = ["", "hotel ranking (groups as hotels): top-1 / top-10 / MAP@5"]
    for level, scores in result["levels"].items():
        metrics = scores if level == "none" else scores["masked"]
        cells = [
            f"{name} {m['top1']:.3f}/{m['top10']:.3f}/{m['map5']:.3f}"
            for name, m in metrics["hotels"].items()
        ]
        label = level if level == "none" else f"{level} masked"
        lines.append(f"  {label:15} " + "; ".join(cells))
    return lines


def _reduction_line(reduction):
    if reduction is None:
        return []
    return [f"global ranking on PCA {reduction['dim']} dims (keeps {reduction['kept']:.1%})"]


def _rerank_line(rerank):
    if rerank is None:
        return "re-ranking off (global descriptor only)"
    return (
        f"re-ranking {rerank['config']} with {rerank['local_features']}, "
        f"local features {rerank['local_ms_per_image']} ms/image"
    )
