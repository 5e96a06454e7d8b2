"""The losses medtk ships, by registry name, as lazy import paths (this module imports no torch).

The core plugin registers each entry through ``register_losses``; ``medtk plugins`` lists
them without importing PyTorch. Values are ``("package.module:Class", "one-line description")``.
"""

from __future__ import annotations

_PACKAGE = "medtk.nn.losses"

LOSSES: dict[str, tuple[str, str]] = {
    "cross-entropy": (
        f"{_PACKAGE}.cross_entropy:CrossEntropyLoss",
        "Multi-class cross-entropy with class weights and label smoothing",
    ),
    "bce": (
        f"{_PACKAGE}.bce:BinaryCrossEntropyLoss",
        "Binary cross-entropy on logits, per channel (binary and multi-label)",
    ),
    "mse": (f"{_PACKAGE}.mse:MSELoss", "Mean squared error (L2)"),
    "mae": (f"{_PACKAGE}.mae:MAELoss", "Mean absolute error (L1)"),
    "focal": (
        f"{_PACKAGE}.focal:FocalLoss",
        "Focal loss: cross-entropy focused on hard examples (Lin et al. 2017)",
    ),
    "dice": (
        f"{_PACKAGE}.dice:DiceLoss",
        "Soft Dice loss for segmentation (Milletari et al. 2016)",
    ),
    "jaccard": (f"{_PACKAGE}.jaccard:JaccardLoss", "Soft Jaccard (IoU) loss for segmentation"),
    "tversky": (
        f"{_PACKAGE}.tversky:TverskyLoss",
        "Tversky loss: Dice with separate false-positive/negative weights (Salehi et al. 2017)",
    ),
    "multilabel-soft-margin": (
        f"{_PACKAGE}.multilabel_soft_margin:MultiLabelSoftMarginLoss",
        "Multi-label soft-margin loss, classes on axis 1, dense maps allowed",
    ),
    "log-squared": (
        f"{_PACKAGE}.log_squared:LogSquaredLoss",
        "Squared log ratio of target to prediction (LsL, virtual staining)",
    ),
    "median-mae": (
        f"{_PACKAGE}.median_mae:MedianMAELoss",
        "Mean absolute error divided by the target's median, per image",
    ),
    "gradient": (
        f"{_PACKAGE}.gradient:GradientLoss",
        "Difference of spatial image gradients, 2D and 3D (Mathieu et al. 2016)",
    ),
    "lsgan": (
        f"{_PACKAGE}.lsgan:LSGANLoss",
        "Least-squares GAN loss (Mao et al. 2017)",
    ),
    "ragan-ls": (
        f"{_PACKAGE}.ragan_ls:RaLSGANLoss",
        "Relativistic average least-squares GAN loss (Jolicoeur-Martineau 2018)",
    ),
    "cgan-l1": (
        f"{_PACKAGE}.pix2pix:Pix2PixLoss",
        "Conditional GAN + L1, lambda 100 (pix2pix, Isola et al. 2017)",
    ),
    "cycle-gan": (
        f"{_PACKAGE}.cycle_gan:CycleGANLoss",
        "Adversarial + cycle consistency, lambda 10 (CycleGAN, Zhu et al. 2017)",
    ),
}
