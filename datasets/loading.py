"""One call from a `retail_rocket` build config to the three split stores and the item catalog."""

import dataclasses
import json

from datasets.event_store import EventStore, ItemCatalog


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedData:
    """The prepared `retail_rocket` build, read into numpy.

    Args:
        name: "retail_rocket/<config name>", e.g. "retail_rocket/synthetic".
        version: the dataset version, e.g. "1.0.0".
        statistics: the build's statistics (`builder.info.metadata`) as a JSON-able dict.
        train: `EventStore` of the train split.
        validation: `EventStore` of the validation split (train events as context).
        test: `EventStore` of the test split (train and validation events as context).
        catalog: `ItemCatalog` of the train split.
    """

    name: str
    version: str
    statistics: dict
    train: EventStore
    validation: EventStore
    test: EventStore
    catalog: ItemCatalog


def prepare_builder(config="synthetic", data_dir=None, manual_dir=None, min_visitor_events=None, min_item_events=None):
    """Returns the `retail_rocket` builder of that config, prepared (built now unless cached in `data_dir`)."""
    from datasets.retail_rocket import make_builder

    builder = make_builder(
        config=config,
        data_dir=data_dir,
        manual_dir=manual_dir,
        min_visitor_events=min_visitor_events,
        min_item_events=min_item_events,
    )
    builder.download_and_prepare()
    return builder


def _json_able(value):
    return json.loads(json.dumps(value, default=lambda x: x.item() if hasattr(x, "item") else str(x)))


def load_retail_rocket(config="synthetic", data_dir=None, manual_dir=None, min_visitor_events=None, min_item_events=None):
    """Prepares the `retail_rocket` build if needed and reads its three splits.

    Args:
        config: builder config, "full", "synthetic" or "synthetic_full".
        data_dir: TFDS data directory (the TFDS default when None).
        manual_dir: folder with the Retail Rocket files, for "full".
        min_visitor_events: visitor filter, the config's default when None.
        min_item_events: item filter, the config's default when None.
    """
    builder = prepare_builder(config, data_dir, manual_dir, min_visitor_events, min_item_events)
    train = EventStore.from_builder(builder, "train")
    return LoadedData(
        name=f"{builder.name}/{builder.builder_config.name}",
        version=str(builder.version),
        statistics=_json_able(dict(builder.info.metadata or {})),
        train=train,
        validation=EventStore.from_builder(builder, "validation"),
        test=EventStore.from_builder(builder, "test"),
        catalog=ItemCatalog.from_store(train),
    )
