"""The ranker as a KerasTuner `HyperModel`: one `TrainConfig` per set of hyperparameter values."""

import dataclasses

import keras_tuner

from app.errors import ConfigError, UserError
from app.evaluation.lists import evaluation_lists_for
from app.training.epoch_evaluation import VALIDATION_PREFIX
from app.training.flow import fit_model
from app.training.ranker import MONITOR, compiled_ranker
from app.training.run import training_inputs
from tuning.search_space import SEARCH_SPACES

SEARCHED_FIELDS = (
    "num_layers",
    "emb_size",
    "num_query_heads",
    "num_key_value_heads",
    "widening_factor",
    "learning_rate",
    "history_length",
    "dropout_rate",
    "embedding_dropout",
    "embedding_l2",
    "use_visitor_embedding",
)
"""The `TrainConfig` fields a trial sets; the rest come from the base config."""


def searched_values(values):
    """The searched `TrainConfig` fields of a trial's hyperparameter values (`None` where one is missing).

    Query heads are drawn as key/value heads times queries per key/value head,
    so that every pair divides.
    """
    fields = {name: values.get(name) for name in SEARCHED_FIELDS if name != "num_query_heads"}
    if "num_key_value_heads" in values and "queries_per_kv_head" in values:
        fields["num_query_heads"] = values["num_key_value_heads"] * values["queries_per_kv_head"]
    else:
        fields["num_query_heads"] = None
    return fields

class RankerHyperModel(keras_tuner.HyperModel):
    """Builds and fits `PhoenixRanker` for the hyperparameter values of a trial.

    A trial's config is the base config with the searched fields replaced
    (`trial_config`); `build` compiles it with `app.training.ranker.compiled_ranker`,
    exactly as `app.fit` does, and `fit` trains on batches and validation
    lists cut for the trial's history length, with the base config's seed.
    The weights come from the global random state: the command seeds it before each trial
    (`tuning.search.TrialsFromTheSeed`).

    Args:
        base_config: the `TrainConfig` every trial starts from.
        data: the loaded dataset (`app.cli.data.load_data`).
        space: the `SearchSpace` to draw from.
        verbose: `model.fit`'s verbosity.
    """

    def __init__(self, base_config, data, space=SEARCH_SPACES["default"], verbose="auto"):
        super().__init__(name="phoenix_ranker")
        self.base_config = base_config
        self.data = data
        self.space = space
        self.verbose = verbose

    def _draw(self, hp):
        """Registers the space in `hp` (once) and returns the trial's values of the searched fields."""
        space = self.space
        hp.Choice("num_key_value_heads", list(space.num_key_value_heads))
        hp.Choice("queries_per_kv_head", list(space.queries_per_kv_head))
        hp.Int("num_layers", *space.num_layers)
        hp.Int("emb_size", *space.emb_size, step=space.emb_size_step)
        hp.Float("widening_factor", *space.widening_factor, step=space.widening_factor_step)
        hp.Float("learning_rate", *space.learning_rate, sampling="log")
        hp.Int("history_length", *space.history_length, step=2, sampling="log")
        hp.Float("dropout_rate", *space.dropout_rate, step=space.dropout_step)
        hp.Float("embedding_dropout", *space.embedding_dropout, step=space.dropout_step)
        hp.Choice("embedding_l2", list(space.embedding_l2))
        hp.Choice("use_visitor_embedding", list(space.use_visitor_embedding))
        return searched_values(hp.values)

    def declare_hyperparameters(self, hp):
        self._draw(hp)

    def trial_config(self, hp):
        """The base config with the trial's values; `FailedTrialError` when it cannot be built."""
        try:
            return dataclasses.replace(self.base_config, **self._draw(hp))
        except ConfigError as error:
            raise keras_tuner.errors.FailedTrialError(f"Impossible combination: {error}") from error

    def build(self, hp):
        config = self.trial_config(hp)
        try:
            return compiled_ranker(config)
        except ValueError as error:
            raise keras_tuner.errors.FailedTrialError(f"Cannot build the ranker: {error}") from error

    def fit(self, hp, model, **kwargs):
        """Trains `model` for the trial through `app.training.flow.fit_model`; `kwargs` may hold the tuner's
        `callbacks` and `epochs`.

        The validation is scored after every epoch as `app.fit` scores it (the sampled lists with `EpochListMetrics`,
        or for a ranker of union shortlists the catalogue protocol, `app.training.shortlist_training`), so the
        objective is the figure `app.fit` reports. A loss that turns non-finite fails the trial, not the search.

        Returns:
            The `FitResult`.
        """
        config = self.trial_config(hp)
        per_epoch_lists = None if config.shortlist_cuts else {
            VALIDATION_PREFIX: evaluation_lists_for(config, self.data, ("validation",))["validation"]}
        try:
            batches, steps, validation, _ = training_inputs(config, self.data, per_epoch_lists)
            return fit_model(
                model,
                batches,
                epochs=kwargs.get("epochs", config.epochs),
                steps_per_epoch=steps,
                validation=validation,
                monitor=MONITOR,
                patience=config.patience,
                callbacks=kwargs.get("callbacks", ()),
                verbose=self.verbose,
                learning_rate=config.learning_rate,
            )
        except UserError as error:
            raise keras_tuner.errors.FailedTrialError(str(error)) from error
