"""The seed's public facades, kept working: QualityAssurance, ActiveLearner.

Also runnable as a script (``python src/data_labeling_pipeline/core.py init --config
config.example.yaml``), the seed's quick-start form: it runs the `dlp` command line.
"""

from __future__ import annotations

if __name__ == "__main__":  # the seed's script form: put src/ on the path, then run the CLI
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from data_labeling_pipeline.cli import main

    main()
