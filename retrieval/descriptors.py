"""Global image descriptors for hotel-room retrieval (a frozen ImageNet CNN).

The library's default descriptor (``DescriptorConfig()``, key
``efficientnet-lite0:<sha8>:gem1-320-tf:d1280``; the served one is Lite1 at 384 px, below):

1. decode upright (EXIF) with JPEG draft mode, resize to 320 px on the long side, scale
   the pixels as the weights were trained, ``(x - 127) / 128`` (TensorFlow Lite's own
   preprocessing; ImageNet mean/std, the earlier default, is ``normalisation="imagenet"``);
2. EfficientNet-Lite0 (ImageNet) head map *before* its ReLU6, clamped at 0 —
   ReLU6 caps strong activations at 6, which flattens GeM/max pooling;
3. mean pooling (GeM with p=1) over the cells; with an erase mask every cell is
   weighted by its un-erased area fraction squared, so a grey-filled person in a
   query barely counts;
4. L2 normalisation: cosine = dot product, 1280 float32.

Gallery images are described upright, once. Queries are shrunk to the network's
size, then tried at 0/90/180/270° (``query_rotations``; best similarity per gallery
image wins: Holidays stores some photos sideways), and a query's erased pixels are
inpainted from their surroundings (``fill_erased``) before the CNN sees them.
The serving model (settings `MATCHER_BACKBONE`, `MATCHER_RESOLUTION`) is Lite1 at 384
px, chosen on hotel rooms; the same steps otherwise. It adds a learned whitening fitted
on the gallery's hotels
(`retrieval.whitening`, `matcher.learning`). How each parameter was chosen, and the
levers measured and not kept: docs/benchmarks.md ("Match quality") and
docs/benchmarks-history.md.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch

from retrieval.backbones import DEFAULT_BACKBONE, DEFAULT_RUNTIME, NORMALISATIONS, load_backbone
from retrieval.images import (
    FILLS,
    ROTATIONS,
    fill_erased,
    resize_long_side,
    rotations,
    shrink,
)
from retrieval.pooling import gem, keep_weights, l2n


def query_similarity(queries, gallery):
    """(Q, R, D) rotated query vectors × (G, D) gallery → (Q, G): best rotation per pair."""
    return np.einsum("qrd,gd->qrg", queries, gallery).max(axis=1)


@dataclass(frozen=True)
class DescriptorConfig:
    backbone: str = DEFAULT_BACKBONE
    resolution: int = 320  # long side in pixels
    scales: tuple = (1.0,)  # multiples of `resolution`; combined by a p-mean
    p: float = 1.0  # GeM exponent
    query_rotations: tuple = ROTATIONS  # the query also turned 90/180/270° (4x its cost)
    normalisation: str = "tf"  # (x - 127) / 128, as the Lite weights expect; or "imagenet"
    fill: str = "telea"  # a query's erased pixels: inpainted (FILLS; docs/benchmarks.md)

    def __post_init__(self):
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {sorted(NORMALISATIONS)}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}")


class DescriptorExtractor:
    """Turns PIL images (+ optional erase masks) into L2-normalised float32 vectors."""

    def __init__(self, config=DescriptorConfig(), runtime=DEFAULT_RUNTIME):
        self.config = config
        self.backbone = load_backbone(config.backbone, runtime)
        mean, std = NORMALISATIONS[config.normalisation]
        self._mean = torch.tensor(mean).view(3, 1, 1)
        self._std = torch.tensor(std).view(3, 1, 1)

    @property
    def dim(self):
        return self.backbone.out_channels

    @property
    def model_version(self):
        """Everything that changes the gallery vectors; store it with every embedding and index."""
        preprocessing = asdict(self.config)
        del preprocessing["backbone"]
        del preprocessing["fill"]  # queries only: the gallery's vectors do not depend on it
        preprocessing.update(pooling="gem", feature_map="head-preact-relu", whitening=None)
        return {
            "backbone": self.config.backbone,
            "weights_sha256": self.backbone.weights_sha256,
            "preprocessing": preprocessing,
            "dim": self.dim,
            "key": self.version_key,
        }

    @property
    def version_key(self):
        """Short stable id, e.g. ``efficientnet-lite0:1a2b3c4d:gem1-320:d1280``."""
        c = self.config
        scales = "" if c.scales == (1.0,) else "-ms" + "_".join(f"{s:.3g}" for s in c.scales)
        weights = self.backbone.weights_sha256[:8]
        norm = "" if c.normalisation == "imagenet" else f"-{c.normalisation}"  # keys before "tf"
        return f"{c.backbone}:{weights}:gem{c.p:g}-{c.resolution}{scales}{norm}:d{self.dim}"

    def _to_tensor(self, image, long_side):
        pixels = np.asarray(resize_long_side(image.convert("RGB"), long_side), dtype=np.float32)
        return (torch.from_numpy(pixels).permute(2, 0, 1) / 255 - self._mean) / self._std

    def _maps_at(self, images, long_side, batch_size):
        tensors = [self._to_tensor(image, long_side) for image in images]
        order = sorted(range(len(tensors)), key=lambda i: tuple(tensors[i].shape))
        maps = [None] * len(tensors)
        start = 0
        while start < len(order):  # same-sized images share a batch (orientation, aspect)
            shape = tensors[order[start]].shape
            batch = [i for i in order[start : start + batch_size] if tensors[i].shape == shape]
            for i, fmap in zip(
                batch,
                self.backbone.feature_map(torch.stack([tensors[i] for i in batch])),
                strict=True,
            ):
                maps[i] = fmap
            start += len(batch)
        return maps

    def feature_maps(self, images, batch_size=16):
        """Per image, its (C, h, w) maps at each configured scale: the one forward pass."""
        per_scale = [
            self._maps_at(images, round(self.config.resolution * s), batch_size)
            for s in self.config.scales
        ]
        return [list(maps) for maps in zip(*per_scale, strict=True)]

    def pool(self, maps, mask=None):
        """One image's maps (one per scale) → L2-normalised (D,) float32 vector.

        With a mask only the un-erased cells count, so a grey person in front of
        the room does not pull the descriptor towards "grey blob".
        """
        p = self.config.p
        pooled = []
        for fmap in maps:
            weights = None if mask is None else keep_weights(mask, fmap.shape[-2:])
            pooled.append(l2n(gem(fmap, p, weights).numpy()))
        # Scales are combined by the same generalised mean (cirtorch's multi-scale).
        return l2n(np.mean(np.power(pooled, p), axis=0) ** (1 / p)).astype(np.float32)

    @property
    def network_side(self):
        """Long side (pixels) of the largest scale the network sees."""
        return round(self.config.resolution * max(self.config.scales))

    def describe_images(self, images, masks=None, batch_size=16):
        """(N, D) float32, L2-normalised: the gallery form.

        masks: None, or per image None or an (H, W) array at image resolution, True = erased.
        """
        masks = [None] * len(images) if masks is None else masks
        pairs = [
            (image, None)
            if mask is None
            else (fill_erased(image, mask, self.network_side, self.config.fill), mask)
            for image, mask in zip(images, masks, strict=True)
        ]
        return self._describe(pairs, batch_size)

    def describe_queries(self, images, masks=None, batch_size=16):
        """(N, R, D): each query at each of `query_rotations`; score with `query_similarity`.

        Each query is shrunk and its erased pixels filled once, then turned: filling
        costs ~10 ms at 320 px, as much as a forward pass.
        """
        masks = [None] * len(images) if masks is None else masks
        turned = []
        for image, mask in zip(images, masks, strict=True):
            turned.extend(self.query_turns(image, mask))
        flat = self._describe(turned, batch_size)
        return flat.reshape(len(images), len(self.config.query_rotations), self.dim)

    def query_turns(self, image, mask=None):
        """[(image, erased fraction or None)] at each of `query_rotations`: the query as
        the network sees it, shrunk and filled once, then turned."""
        small, fraction = shrink(image, mask, self.network_side)
        if fraction is not None:
            small = fill_erased(small, fraction, self.network_side, self.config.fill)
        return list(rotations(small, fraction, self.config.query_rotations))

    def _describe(self, pairs, batch_size):
        """(N, D) vectors of (image, mask or erased fraction or None) pairs."""
        maps = self.feature_maps([image for image, _ in pairs], batch_size)
        return np.stack([self.pool(m, mask) for m, (_, mask) in zip(maps, pairs, strict=True)])
