"""LedgerBridge DAGs, shard 6 of 16: the DAGs of the legal entities of the registry
(include/config/legal_entities.yaml) whose DAG id hashes to 6 (ledgerbridge.dag_files).

Airflow DAG file, wiring only. Written by `ledgerbridge-airflow dag-files --shards 16`: rewrite
the set with that command rather than editing, copying or deleting one file (docs/operations.md).
"""
from ledgerbridge_airflow.dag_factory import build_shard

build_shard(globals(), __file__)
