"""kato: a deterministic sequence-pattern memory and prediction server speaking KATO 3.10.1's HTTP API."""

__version__ = "0.1.0"
REFERENCE_VERSION = "3.10.1"
