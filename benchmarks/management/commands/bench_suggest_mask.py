"""`manage.py bench_suggest_mask`: how well the suggested erase mask covers people.

On generated room photos with a drawn person (`demo.person`, the person's pixels
known): the share of the person covered, the share of the background wrongly erased,
and the milliseconds per photo. With `--real`, on ../shared/datasets (read in place,
never copied): how often a mask is proposed for real hotel rooms that show no one
(false alarms), and for the Holidays photos (some show people: a rate to read
qualitatively, as the set has no person labels).
"""

import csv
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image

from demo.person import room_with_person
from retrieval import people

DATASETS = Path(settings.BASE_DIR).parent / "shared" / "datasets"


class Command(BaseCommand):
    help = "Measure the suggested erase mask on photos with a drawn person."

    def add_arguments(self, parser):
        parser.add_argument("--photos", type=int, default=40)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--real", action="store_true", help="also run on ../shared/datasets")

    def handle(self, *args, photos, threads, real, **options):
        import cv2

        cv2.setNumThreads(threads)  # the same budget as ONNX Runtime's
        people.suggest_mask(room_with_person(-1)[0], threads)  # load the models first
        self._synthetic(photos, threads)
        if real:
            self._real("hotelrooms", threads)
            self._real("holidays", threads)

    def _synthetic(self, photos, threads):
        covered, erased, found, millis = [], [], [], []
        for seed in range(photos):
            image, truth = room_with_person(seed)
            start = time.perf_counter()
            mask = people.suggest_mask(image, threads)
            millis.append(1000 * (time.perf_counter() - start))
            covered.append((mask & truth).sum() / truth.sum())
            erased.append((mask & ~truth).sum() / (~truth).sum())
            found.append(mask.any())
        covered, erased, found = map(np.array, (covered, erased, found))
        self.stdout.write(f"{photos} generated 1280x960 rooms with a drawn person:")
        self.stdout.write(f"  person found in {found.sum()}/{photos}")
        self._line("person covered, all photos", covered)
        self._line("person covered, where found", covered[found])
        self._line("background erased, all photos", erased)
        self._line("background erased, where found", erased[found])
        self.stdout.write(
            f"  ms per photo ({threads} threads): p50 {np.percentile(millis, 50):.0f}, "
            f"p95 {np.percentile(millis, 95):.0f}"
        )

    def _line(self, name, values):
        self.stdout.write(f"  {name}: mean {values.mean():.3f}, median {np.median(values):.3f}")

    def _real(self, name, threads):
        folder = DATASETS / name
        if not folder.is_dir():
            self.stdout.write(f"{name}: {folder} is absent, skipped")
            return
        with open(folder / "manifest.csv") as manifest:
            paths = [folder / row["path"] for row in csv.DictReader(manifest)]
        areas = np.array([self._erased_share(path, threads) for path in paths])
        proposed = areas > 0
        self.stdout.write(
            f"{name}: a mask proposed for {proposed.sum()}/{len(paths)} photos "
            f"({proposed.mean():.1%}); erased share where proposed: "
            f"median {np.median(areas[proposed]) if proposed.any() else 0:.3f}"
        )

    @staticmethod
    def _erased_share(path, threads):
        with Image.open(path) as image:
            return people.suggest_mask(image, threads).mean()
