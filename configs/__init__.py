"""Experiment configs: Python files with `get_config(arg)` returning an ml_collections.ConfigDict.

Installed as `xstilts_jax.configs`, so `xstilts run --config demo` works from anywhere and
`xstilts run --config configs/xstilts.py:intermediate=mnli` works from a checkout.
"""
