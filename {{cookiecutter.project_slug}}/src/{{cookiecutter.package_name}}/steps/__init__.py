"""The five pipeline steps as plain, typed functions that exchange data through files.

One module per step (`prepare`, `train`, `evaluate`, `register`, `deploy`), each with its
record type and its step body; one step module is one Azure ML component. The local runner
(`pipeline.py`) calls them in-process; an Azure ML component calls the very same functions
through the CLI (`<package> train --train-data ... --output ...`). Each step writes its outputs
and a small JSON record into its output folder (`records.py`), which is all the next step
needs; `register` also writes the version's model card (`model_card.py`). MLflow logging
goes to the active run (the local runner's run, or the Azure ML job's).
"""
