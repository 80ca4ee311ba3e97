"""record: the record of a sweep, the contract between the layers.

What the sweep service (`sweeps/`) writes and the report and studies (`analysis/`) read: the sweep
folder's layout and file names and its `sweep.json` (`record.folder`), the `design.json` schema
(`record.design`), MLflow tag, role, status and param names (`record.names`), params that read back
exactly (`record.params`), and published figures with the one rule that compares them with ours
(`record.figures`). It imports neither layer, nor Ray, MLflow or torch, so both can use it and a folder
can be read without them.
"""
