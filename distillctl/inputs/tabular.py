"""Tables (F,): one row of standardised features."""

from distillctl.inputs import InputKind, register, single_features

TABULAR = register(
    InputKind(
        name="tabular",
        rank=1,
        # noise in standardised units
        views=lambda shape: {"noise": 0.1},
        drawer="distillctl.report.figures:tabular_bars",
        tree_filter="distillctl.report.tree:table_filter",
        tree_caption="its {top} largest feature weights (red pushes right)",
        # a perturbation switches single columns
        feature_groups=single_features,
    )
)
