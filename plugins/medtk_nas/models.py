"""Patient-level multiple-instance networks: one modality, or CT and H&E fused mid or late.

Every instance (a CT slice, a slide patch) gets a 512-d ResNet-18 feature; a classifier
``fc 512 → fc 128`` maps each instance, average pooling over all of a patient's instances
gives the patient's feature, and a final ``fc`` the class logits. Fusion:

- ``ct`` / ``he``: one modality's instances only.
- ``mid``: both modalities' instance features go through the one shared classifier and
  are pooled together, as one bag.
- ``late``: each modality has its own classifier and pooling; the two 128-d patient
  features are concatenated (256-d) before the final ``fc``.

Loss ``multi`` adds a head per modality on that modality's pooled 128-d feature, trained
with the joint head; predictions always come from the joint head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from medtk.errors import BadInputError

FUSIONS: dict[str, tuple[str, ...]] = {
    "ct": ("ct",),
    "he": ("he",),
    "mid": ("ct", "he"),
    "late": ("ct", "he"),
}
LOSSES: tuple[str, ...] = ("single", "multi")
POOLED = 128

Bag = Mapping[str, torch.Tensor]


class FeatureNorm(nn.BatchNorm1d):
    """Batch norm over instance features that also takes a batch of one (or none): such a
    batch has no statistics of its own, so it is normalised with the running ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] < 2:
            return nn.functional.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


def feature_norm(features: int, enabled: bool) -> nn.Module:
    """Batch norm over instance features, or nothing (the source's classifier exactly).

    Frozen features of a randomly initialised ResNet differ between instances by a few
    per cent of their size; normalising each dimension lets the classifier see those
    differences at a learning rate that suits the rest of the network.
    """
    return FeatureNorm(features) if enabled else nn.Identity()


class InstanceClassifier(nn.Sequential):
    """``fc 512 → fc 128`` with ReLU (and dropout between), applied to every instance,
    after an optional batch norm of the feature (``norm``)."""

    def __init__(self, features: int = 512, dropout: float = 0.0, norm: bool = False) -> None:
        super().__init__(
            feature_norm(features, norm),
            nn.Linear(features, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, POOLED),
            nn.ReLU(inplace=True),
        )


def check_variant(fusion: str, loss: str) -> tuple[str, ...]:
    """The modalities a variant uses; ``multi`` needs two of them."""
    if fusion not in FUSIONS:
        raise BadInputError(f"unknown fusion {fusion!r}; choose from {', '.join(FUSIONS)}")
    if loss not in LOSSES:
        raise BadInputError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    if loss == "multi" and len(FUSIONS[fusion]) < 2:
        raise BadInputError(
            f"--loss multi adds a head per modality; --fusion {fusion} has one modality "
            "(use mid or late)"
        )
    return FUSIONS[fusion]


class NasNet(nn.Module):
    """The fusion network over bags of trunk features.

    :param blocks: per modality, the trainable part of the backbone mapping trunk
        features to 512-d instance features (``nn.Identity`` when nothing trains).
    :param fusion: ``ct``, ``he``, ``mid`` or ``late``.
    :param loss: ``single`` or ``multi`` (per-modality heads beside the joint one).
    :param classes: number of classes of the target.
    :param norm: batch-normalise instance features before the classifier.
    """

    def __init__(
        self,
        blocks: Mapping[str, nn.Module],
        *,
        fusion: str,
        loss: str,
        classes: int,
        dropout: float = 0.0,
        norm: bool = False,
    ) -> None:
        super().__init__()
        self.modalities = check_variant(fusion, loss)
        self.fusion, self.loss = fusion, loss
        self.blocks = nn.ModuleDict({m: blocks[m] for m in self.modalities})
        if fusion == "late":
            self.classifiers = nn.ModuleDict(
                {m: InstanceClassifier(dropout=dropout, norm=norm) for m in self.modalities}
            )
        else:
            self.classifier = InstanceClassifier(dropout=dropout, norm=norm)
        width = POOLED * (len(self.modalities) if fusion == "late" else 1)
        self.joint = nn.Linear(width, classes)
        self.heads = nn.ModuleDict(
            {m: nn.Linear(POOLED, classes) for m in self.modalities} if loss == "multi" else {}
        )

    def _instances(self, bags: Sequence[Bag], modality: str) -> list[torch.Tensor]:
        """Every patient's ``(n, 128)`` instance features of ``modality``, run as one batch."""
        counts = [len(bag[modality]) for bag in bags]
        features = self.blocks[modality](torch.cat([bag[modality] for bag in bags]))
        classifier = self.classifiers[modality] if self.fusion == "late" else self.classifier
        return list(classifier(features.float()).split(counts))

    def forward(self, bags: Sequence[Bag]) -> dict[str, torch.Tensor]:
        """Logits ``(patients, classes)`` of the joint head (``"joint"``) and, with loss
        ``multi``, of each modality's head (``"ct"``, ``"he"``)."""
        per_modality = {m: self._instances(bags, m) for m in self.modalities}
        joint, heads = [], {m: [] for m in self.heads}
        for index in range(len(bags)):
            instances = {m: per_modality[m][index] for m in self.modalities}
            pooled = {m: _mean(x) for m, x in instances.items()}
            if self.fusion == "late":
                joint.append(torch.cat([pooled[m] for m in self.modalities]))
            else:
                joint.append(_mean(torch.cat(list(instances.values()))))
            for m in self.heads:
                heads[m].append(pooled[m])
        out = {"joint": self.joint(torch.stack(joint))}
        out.update({m: self.heads[m](torch.stack(v)) for m, v in heads.items()})
        return out


def _mean(instances: torch.Tensor) -> torch.Tensor:
    """Average pooling over instances; a bag without instances pools to zeros."""
    if len(instances) == 0:
        return instances.new_zeros(instances.shape[1:])
    return instances.mean(dim=0)


def bag_loss(outputs: Mapping[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the joint head, plus each modality head's under loss ``multi``."""
    ce = nn.functional.cross_entropy
    losses = [ce(logits.float(), labels) for logits in outputs.values()]
    return torch.stack(losses).sum()


class PatchClassifier(nn.Module):
    """The patch-level baseline: the trainable ResNet stage(s) and a linear head per patch."""

    def __init__(self, block: nn.Module, classes: int, dropout: float, norm: bool = False) -> None:
        super().__init__()
        self.block = block
        self.head = nn.Sequential(
            feature_norm(512, norm), nn.Dropout(dropout), nn.Linear(512, classes)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(features).float())
