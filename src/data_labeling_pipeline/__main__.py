from data_labeling_pipeline.cli import main

main()
