"""data-labeling-pipeline: a git-native dataset repository for data labeling, run by DVC."""

__version__ = "0.1.0"
