"""tailguard: PySpark jobs that build pretraining corpora resistant to model collapse."""

__version__ = "0.1.0"
