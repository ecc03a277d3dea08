"""Install the three packages of EEG-VLM and the ``eeg-vlm`` command.

torch is asked for as a range: a user who already has a CUDA build keeps it.
``scripts/setup_env.sh`` pins ``torch==2.13.0`` first where none is installed, which takes
the CPU wheel on machines that carry it and the normal build elsewhere.
"""

from setuptools import find_packages, setup

CORE = [
    "numpy>=1.24",
    "scipy>=1.10",
    "pillow>=10",
    "tqdm>=4.60",
    "matplotlib>=3.7",
    "scikit-learn>=1.3",
    "pyedflib>=0.1.36",
    "edfio>=0.4",
    "torch>=2.1",
    "safetensors>=0.4",
    "transformers>=5.0,<6",
    "peft>=0.17",
    "accelerate>=1.0",
    "sentencepiece>=0.2",
    "tokenizers>=0.21",
    # transformers needs these to read sentencepiece (Llama/Mistral) and tiktoken (Llama-3)
    # tokenizer files, but does not install them itself
    "protobuf>=4",
    "tiktoken>=0.7",
]
EXTRAS = {
    "train": ["deepspeed>=0.16", "wandb>=0.18"],
    "quant": ["bitsandbytes>=0.45"],
    "mne": ["mne>=1.6"],
    # the classical peer (YASA's shipped LightGBM stager) as a row of the report tables
    "baselines": ["yasa>=0.6"],
    "test": ["pytest>=8"],
}
EXTRAS["all"] = sorted({dep for deps in EXTRAS.values() for dep in deps})

setup(
    name="eeg-vlm",
    version="0.1.0",
    description="Sleep staging from polysomnography images with a LLaVA-1.5 fork "
    "and a specialized vision module",
    python_requires=">=3.10",
    packages=find_packages(include=["eeg_vlm*", "feature_extractor*", "llava*", "ondisk*", "signal_models*"]),
    package_data={"eeg_vlm.context": ["data/*.json"], "eeg_vlm.dataset": ["data/*.json"]},
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["eeg-vlm=eeg_vlm.cli:main"]},
)
