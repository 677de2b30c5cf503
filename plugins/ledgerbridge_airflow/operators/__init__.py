from ledgerbridge_airflow.operators.sync import LedgerBridgeStepOperator

__all__ = ["LedgerBridgeStepOperator"]
