"""Benchmarks that time bert_jax beside a peer in the same run: ``python -m bert_jax.bench <name>``."""
