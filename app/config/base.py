"""What every model's run config shares: field checks, the model's constructor arguments, the JSON round trip."""

import dataclasses
import inspect
import json
import math

from app.errors import ConfigError


def constructor_defaults(model_class):
    """The default of every constructor argument of `model_class` that has one."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(model_class.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


class ModelConfig:
    """What the run configs share: checks, the model's constructor arguments, and the JSON round trip.

    A subclass is a frozen dataclass naming its model (`MODEL_CLASS`) and the
    bounds of its fields: `MINIMUMS` (integers), `POSITIVE` and `NON_NEGATIVE`
    (numbers). Every float field must be finite; attention heads must divide
    and the head width must be even (rotary embeddings rotate pairs).
    """

    MODEL_CLASS = None
    MINIMUMS = {}
    POSITIVE = ()
    NON_NEGATIVE = ()

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ConfigError(f"`{field.name}` must be a finite number. Received: {field.name}={value}.")
            if field.type is int and not isinstance(value, int):
                raise ConfigError(f"`{field.name}` must be an integer. Received: {field.name}={value!r}.")
        for name, minimum in self.MINIMUMS.items():
            if getattr(self, name) < minimum:
                raise ConfigError(f"`{name}` must be at least {minimum}. Received: {name}={getattr(self, name)}.")
        for name in self.POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(f"`{name}` must be positive. Received: {name}={getattr(self, name)}.")
        for name in self.NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ConfigError(f"`{name}` must be at least 0. Received: {name}={getattr(self, name)}.")
        if self.num_query_heads % self.num_key_value_heads:
            raise ConfigError(
                "`num_query_heads` must be a multiple of `num_key_value_heads`. Received: "
                f"num_query_heads={self.num_query_heads}, num_key_value_heads={self.num_key_value_heads}."
            )
        if self.key_size % 2:
            raise ConfigError(
                f"`key_size` must be even (rotary embeddings rotate pairs). Received: key_size={self.key_size}."
            )

    def model_kwargs(self):
        """Constructor arguments of `MODEL_CLASS`: every field named like one of its arguments."""
        arguments = constructor_defaults(self.MODEL_CLASS)
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name in arguments}

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """Builds a config from a dict, refusing unknown fields by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown {cls.__name__} field(s) {unknown}. Expected some of: {sorted(known)}.")
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))
