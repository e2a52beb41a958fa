"""`manage.py bench_intake_memory`: peak memory of the worst upload requests (not a test).

Each request runs in a fresh process (`--child`), so one request's high-water mark is
not hidden by another's. Inside it the photos are read as Django hands them over, the
baseline resident memory is taken, the kernel's peak counter is reset
(/proc/self/clear_refs), `rooms.intake.process_uploads` runs — the decoding,
normalising, hashing and screening of every photo of the request — and the peak
resident memory (VmHWM) above the baseline is reported. Linux only.

The requests are the worst a client may send under the per-photo limits: 7000x7000
RGBA PNGs (49 MP each, ~200 KB each: they compress well, as in finding 7 of issue 19)
one, two (the most the default 100 MP request budget accepts) and four at a time,
four 8000x6000 JPEGs (48 MP each, decoded at 4000x3000), and one PNG with three JPEGs.
"""

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

REQUESTS = {
    "1 PNG 7000x7000 RGBA": ["rgba.png"],
    "2 PNG 7000x7000 RGBA": ["rgba.png"] * 2,
    "4 PNG 7000x7000 RGBA": ["rgba.png"] * 4,
    "4 JPEG 8000x6000": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
    "1 PNG + 3 JPEG": ["rgba.png", "a.jpg", "b.jpg", "c.jpg"],
}


def rgba_png(side: int) -> bytes:
    """Smooth gradients with a gradient alpha: tiny on disk, 4 bytes a pixel decoded."""
    ramp = Image.linear_gradient("L").resize((side, side))
    image = Image.merge("RGBA", (ramp, ramp.transpose(Image.Transpose.ROTATE_90), ramp, ramp))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def noisy_jpeg(size: tuple[int, int], seed: int) -> bytes:
    width, height = size
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    image = Image.fromarray(tile).resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise CommandError(f"/proc/self/status has no {field}: Linux only")


class Command(BaseCommand):
    help = "Peak memory of the worst accepted upload requests, one fresh process each."

    def add_arguments(self, parser):
        parser.add_argument("--side", type=int, default=7000, help="PNG side (default 7000)")
        parser.add_argument("--child", help=argparse_hidden())
        parser.add_argument("--dir", help=argparse_hidden())

    def handle(self, *args, side, child, dir, **options):
        if child:
            self.stdout.write(json.dumps(measure(Path(dir), REQUESTS[child])))
            return
        with tempfile.TemporaryDirectory() as folder:
            self.write_inputs(Path(folder), side)
            self.stdout.write(f"{'request':<24} {'outcome':<44} {'peak MB':>8} {'s':>6}")
            for name in REQUESTS:
                result = self.run_child(name, folder)
                self.stdout.write(
                    f"{name:<24} {result['outcome'][:44]:<44} "
                    f"{result['peak_mb']:>8.0f} {result['seconds']:>6.1f}"
                )

    def write_inputs(self, folder: Path, side: int) -> None:
        (folder / "rgba.png").write_bytes(rgba_png(side))
        for seed, name in enumerate(["a.jpg", "b.jpg", "c.jpg", "d.jpg"]):
            (folder / name).write_bytes(noisy_jpeg((8000, 6000), seed))
        sizes = {p.name: p.stat().st_size // 1024 for p in sorted(folder.iterdir())}
        self.stdout.write(f"inputs (KB): {sizes}")

    def run_child(self, name: str, folder: str) -> dict:
        command = [sys.executable, sys.argv[0], "bench_intake_memory", "--child", name]
        done = subprocess.run(
            [*command, "--dir", folder], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise CommandError(f"{name} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


def measure(folder: Path, names: list[str]) -> dict:
    from rooms import intake

    # Warm up once (OpenCV, ONNX Runtime models): a process's first photo pays for them.
    warm = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(warm, "JPEG")
    intake.process_uploads([SimpleUploadedFile("w.jpg", warm.getvalue())])
    uploads = [SimpleUploadedFile(n, (folder / n).read_bytes()) for n in names]
    baseline = memory_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak counter starts again from here
    started = time.perf_counter()
    try:
        processed = intake.process_uploads(uploads)
        outcome = f"accepted ({len(processed)} photos)"
    except intake.UploadRejected as exc:
        outcome = f"refused {exc.status_code}: {exc.rejections[0].reason}"
    seconds = time.perf_counter() - started
    peak = memory_kib("VmHWM") - baseline
    return {"outcome": outcome, "peak_mb": peak / 1024, "seconds": seconds}
