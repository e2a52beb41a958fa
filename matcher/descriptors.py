"""Global image descriptors for hotel-room retrieval (training-free).

FINAL_DESCRIPTION_PLACEHOLDER
"""

import hashlib
import io
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from matcher.backbones import DEFAULT_BACKBONE, load_backbone


class EmptyQueryError(ValueError):
    """The mask erases every feature-map cell: nothing is left to describe."""


def load_image(source, max_side):
    """Open a path or file object upright, as RGB, decoded at >= max_side when possible."""
    image = Image.open(source)
    # JPEG draft decodes at 1/2, 1/4 or 1/8 scale: a 12 MP phone photo loads ~10x faster.
    image.draft("RGB", (max_side, max_side))
    return ImageOps.exif_transpose(image).convert("RGB")


def resize_long_side(image, long_side):
    width, height = image.size
    scale = long_side / max(width, height)
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BICUBIC)


def keep_weights(mask, grid):
    """Per-cell weight in [0, 1] of a (h, w) feature grid: 0 where the mask touches.

    `mask` is at image resolution, True/1 = erased. A cell's receptive field reaches
    well beyond its own pixels, so cells next to the grey fill are dropped too
    (the erased fraction is dilated by one cell).
    """
    erased = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]
    erased = F.interpolate(erased, size=grid, mode="area")
    erased = F.max_pool2d(erased, 3, stride=1, padding=1)
    return (1 - erased)[0, 0].clamp(min=0)


def gem(fmap, p, weights=None):
    """Generalised mean over the cells of a (C, h, w) map, optionally weighted per cell."""
    x = fmap.float().clamp(min=1e-6).pow(p)
    if weights is None:
        return x.mean(dim=(1, 2)).pow(1 / p)
    total = weights.sum()
    if total <= 1e-6:
        raise EmptyQueryError("the mask covers the whole image: nothing left to match")
    return ((x * weights).sum(dim=(1, 2)) / total).pow(1 / p)


def l2n(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass
class Whitening:
    """PCA-whitening fitted without labels on gallery descriptors.

    `power` 0.5 is full whitening; smaller values shrink the boost given to
    low-variance directions, which are noise when the gallery is small.
    """

    mean: np.ndarray
    components: np.ndarray  # (dim, D) rows = principal directions
    scales: np.ndarray  # (dim,) eigenvalue ** -power
    power: float

    @classmethod
    def fit(cls, descriptors, dim=None, power=0.5):
        x = np.asarray(descriptors, dtype=np.float64)
        mean = x.mean(axis=0)
        _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
        eigen = singular**2 / len(x)
        dim = min(dim or len(eigen), int((eigen > eigen[0] * 1e-6).sum()))
        return cls(mean, vt[:dim], eigen[:dim] ** -power, power)

    def apply(self, descriptors):
        projected = (np.asarray(descriptors, dtype=np.float64) - self.mean) @ self.components.T
        return l2n(projected * self.scales).astype(np.float32)

    @property
    def dim(self):
        return len(self.scales)

    def to_bytes(self):
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, components=self.components, scales=self.scales, power=self.power)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data):
        arrays = np.load(io.BytesIO(data))
        return cls(arrays["mean"], arrays["components"], arrays["scales"], float(arrays["power"]))

    @property
    def sha256(self):
        return hashlib.sha256(self.to_bytes()).hexdigest()


@dataclass(frozen=True)
class DescriptorConfig:
    backbone: str = DEFAULT_BACKBONE
    resolution: int = 448  # long side in pixels
    scales: tuple = (1.0,)  # multiples of `resolution`; combined by a p-mean
    p: float = 3.0  # GeM exponent


class DescriptorExtractor:
    """Turns PIL images (+ optional erase masks) into L2-normalised float32 vectors."""

    def __init__(self, config=DescriptorConfig(), whitening=None):
        self.config = config
        self.whitening = whitening
        self.backbone = load_backbone(config.backbone)
        self._mean = torch.tensor(self.backbone.mean).view(3, 1, 1)
        self._std = torch.tensor(self.backbone.std).view(3, 1, 1)

    @property
    def dim(self):
        return self.whitening.dim if self.whitening else self.backbone.out_channels

    @property
    def model_version(self):
        """Everything that changes the vectors; store it with every embedding and index."""
        preprocessing = asdict(self.config)
        del preprocessing["backbone"]
        preprocessing["pooling"] = "gem"
        preprocessing["whitening"] = self.whitening.sha256 if self.whitening else None
        return {
            "backbone": self.config.backbone,
            "weights_sha256": self.backbone.weights_sha256,
            "preprocessing": preprocessing,
            "dim": self.dim,
        }

    @property
    def version_key(self):
        """Short stable id, e.g. ``efficientnet-lite0:1a2b3c4d:gem3-448:d1280``."""
        c = self.config
        scales = "" if c.scales == (1.0,) else "-ms" + "_".join(f"{s:g}" for s in c.scales)
        white = f":w{self.whitening.sha256[:8]}" if self.whitening else ""
        return f"{c.backbone}:{self.backbone.weights_sha256[:8]}:gem{c.p:g}-{c.resolution}{scales}{white}:d{self.dim}"

    def _to_tensor(self, image, long_side):
        pixels = np.asarray(resize_long_side(image.convert("RGB"), long_side), dtype=np.float32)
        return (torch.from_numpy(pixels).permute(2, 0, 1) / 255 - self._mean) / self._std

    def feature_maps(self, images, scale=1.0, batch_size=16):
        """One forward pass per image at `scale`; same-sized images share batches."""
        tensors = [self._to_tensor(image, round(self.config.resolution * scale)) for image in images]
        order = sorted(range(len(tensors)), key=lambda i: tensors[i].shape)
        maps = [None] * len(tensors)
        start = 0
        while start < len(order):
            shape = tensors[order[start]].shape
            batch = [i for i in order[start : start + batch_size] if tensors[i].shape == shape]
            for i, fmap in zip(batch, self.backbone.feature_map(torch.stack([tensors[i] for i in batch]))):
                maps[i] = fmap
            start += len(batch)
        return maps

    def pool(self, maps_per_scale, mask=None):
        """Pool one image's maps (one per scale) into a raw, un-whitened vector.

        With a mask only the un-erased cells count, so a grey person in front of
        the room does not drag the descriptor towards "grey blob".
        """
        p = self.config.p
        pooled = []
        for fmap in maps_per_scale:
            weights = None if mask is None else keep_weights(mask, fmap.shape[-2:])
            pooled.append(l2n(gem(fmap, p, weights).numpy()))
        # Scales are combined by the same generalised mean (cirtorch's multi-scale).
        return np.mean(np.power(pooled, p), axis=0) ** (1 / p)

    def finish(self, raw):
        """L2-normalise raw pooled vectors and apply the whitening if any."""
        raw = l2n(np.asarray(raw, dtype=np.float32))
        return self.whitening.apply(raw) if self.whitening else raw

    def describe_raw(self, images, masks=None, batch_size=16):
        """Un-whitened vectors (what a gallery whitening is fitted on)."""
        maps = [self.feature_maps(images, s, batch_size) for s in self.config.scales]
        masks = masks if masks is not None else [None] * len(images)
        return np.stack([self.pool([m[i] for m in maps], masks[i]) for i in range(len(images))])

    def describe_images(self, images, masks=None, batch_size=16):
        """(N, dim) float32, L2-normalised. masks: per image None or (H, W) bool, True = erased."""
        return self.finish(self.describe_raw(images, masks, batch_size))
