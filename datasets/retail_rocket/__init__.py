"""The retail_rocket TFDS dataset (Kaggle dump, shared slice, or synthetic twin).

`make_builder(config, data_dir, manual_dir, min_visitor_events, min_item_events)` is the entry point;
TensorFlow Datasets is imported only when the builder is first used.
"""

from datasets.retail_rocket.raw_files import raw_files_present as manual_files_present

_LAZY = {
    "Builder": "datasets.retail_rocket.retail_rocket_dataset_builder",
    "RetailRocket": "datasets.retail_rocket.retail_rocket_dataset_builder",
    "RetailRocketConfig": "datasets.retail_rocket.retail_rocket_dataset_builder",
    "make_builder": "datasets.retail_rocket.builder_factory",
}

__all__ = ["Builder", "RetailRocket", "RetailRocketConfig", "make_builder", "manual_files_present"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_LAZY[name])
    return getattr(module, "Builder" if name == "RetailRocket" else name)
