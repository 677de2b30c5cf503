"""LedgerBridge's pages inside the Airflow 3 UI: an Airflow plugin (`plugin.py`) whose FastAPI app (`app.py`)
is mounted by the api-server under /ledgerbridge and shown in the UI's iframes (external views).

Airflow does not protect a plugin's endpoints: every route checks its caller through Airflow's auth
manager (`auth.py`), with the same JWT as the rest of the UI. The core calls are in `core.py`.
"""
