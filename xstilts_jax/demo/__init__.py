"""The embedded demo's generator: synthetic languages and their data, written in the real formats.

Nothing in a real run imports this package; the pipeline reaches it only to write the demo's
data files, which are then read back through the real readers in `xstilts_jax.data`.
"""
