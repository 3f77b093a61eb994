"""cnnlab: a course lab's grid of Keras CNN experiments as a Snakemake workflow."""

__version__ = "0.1.0"
