"""Tasks plug into the one trainer; see base.py for the interface and the registry."""

from bert_jax.tasks import pretrain  # noqa: F401  (registers itself)
from bert_jax.tasks.base import Task, get, register  # noqa: F401
