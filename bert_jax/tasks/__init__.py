"""Tasks plug into the one trainer; see base.py for the interface and the registry."""

from bert_jax.tasks import distill, glue, ner, pretrain, squad, swag  # noqa: F401  (each registers itself)
from bert_jax.tasks.base import Task, get, register  # noqa: F401
