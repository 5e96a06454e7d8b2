"""The metrics medtk ships, by name: lazy import paths and one-line descriptions.

A plain mapping with no imports, so listing plugins (``medtk plugins``) stays cheap; the
built-in plugin registers each entry through ``register_metrics``. Targets follow the
convention of every medtk metric: reference first (``y_true``), prediction second.
"""

from __future__ import annotations

#: name → ("package.module:function", "one-line description")
METRICS: dict[str, tuple[str, str]] = {
    "auc": (
        "medtk.metrics.roc:roc_auc",
        "Binary ROC AUC from scores (Mann–Whitney U, ties count ½)",
    ),
    "auc-ovr": (
        "medtk.metrics.roc:roc_auc_ovr",
        "Multi-class one-vs-rest ROC AUC: macro, prevalence-weighted or per class",
    ),
    "auc-ci": (
        "medtk.metrics.bootstrap:bootstrap_auc",
        "ROC AUC with a percentile bootstrap confidence interval (vectorised, seeded)",
    ),
    "roc-curve": (
        "medtk.metrics.roc:roc_curve",
        "Binary ROC curve points: false- and true-positive rates per threshold",
    ),
    "roc-curves-ovr": (
        "medtk.metrics.roc:roc_curves_ovr",
        "One-vs-rest ROC curve points, one curve per class",
    ),
    "accuracy": (
        "medtk.metrics.classification:accuracy",
        "Fraction of samples whose predicted label is the true one",
    ),
    "precision": (
        "medtk.metrics.classification:precision",
        "Precision TP / (TP + FP): binary, micro, macro, weighted or per class",
    ),
    "recall": (
        "medtk.metrics.classification:recall",
        "Recall TP / (TP + FN): binary, micro, macro, weighted or per class",
    ),
    "sensitivity": (
        "medtk.metrics.classification:sensitivity",
        "Sensitivity, the same as recall: TP / (TP + FN)",
    ),
    "specificity": (
        "medtk.metrics.classification:specificity",
        "Specificity TN / (TN + FP): binary, micro, macro, weighted or per class",
    ),
    "f1": (
        "medtk.metrics.classification:f1",
        "F1 score 2·TP / (2·TP + FP + FN): binary, micro, macro, weighted or per class",
    ),
    "confusion-matrix": (
        "medtk.metrics.confusion:confusion_matrix",
        "N×N confusion matrix (rows true, columns predicted), counts or normalised",
    ),
    "f1-threshold-sweep": (
        "medtk.metrics.thresholds:f1_threshold_sweep",
        "Per-class F1 at every threshold and the threshold that maximises it",
    ),
    "f1-at-thresholds": (
        "medtk.metrics.thresholds:f1_at_thresholds",
        "Per-class F1 with fixed thresholds chosen on other (validation) data",
    ),
    "dice": (
        "medtk.metrics.overlap:dice",
        "Dice coefficient 2|T∩P| / (|T| + |P|) of binary masks (1 when both are empty)",
    ),
    "dice-per-class": (
        "medtk.metrics.overlap:dice_per_class",
        "Dice coefficient per class of two label maps",
    ),
    "jaccard": (
        "medtk.metrics.overlap:jaccard",
        "Jaccard index (IoU) |T∩P| / |T∪P| of binary masks (1 when both are empty)",
    ),
    "jaccard-per-class": (
        "medtk.metrics.overlap:jaccard_per_class",
        "Jaccard index (IoU) per class of two label maps",
    ),
    "mae": (
        "medtk.metrics.image:mae",
        "Mean absolute error between two images",
    ),
    "psnr": (
        "medtk.metrics.image:psnr",
        "Peak signal-to-noise ratio in dB (data range given or from the integer dtype)",
    ),
    "ssim": (
        "medtk.metrics.similarity:ssim",
        "Structural similarity of 2D images or 3D volumes (scikit-image, Wang et al. 2004)",
    ),
}
