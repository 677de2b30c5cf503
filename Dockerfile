# LedgerBridge's image: Airflow 3.3 with the project installed, one image for every Airflow service
# (api-server, scheduler, dag-processor, triggerer, Celery workers), the init and the sandboxes.
#   docker compose build        (docker-compose.yaml; docs/deployment.md)
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow

# Airflow's components run as this user; uid 50000 as in Airflow's own images.
RUN useradd --create-home --uid 50000 --gid 0 airflow

WORKDIR /opt/ledgerbridge

# The exact versions resolved together (requirements.txt), in a layer of their own: a code change
# does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# Then the project itself, without resolving anything again (its build backend, setuptools, is pinned
# above). Editable, as `make venv` does: the demo data and the migrations are read from /opt/ledgerbridge.
# The import check fails the build when a pin breaks the Celery executor (celery 5.7 did); its
# AIRFLOW_HOME is thrown away, so no airflow.cfg is baked into the image.
COPY pyproject.toml README.md ./
COPY include include
COPY plugins plugins
COPY dags dags
RUN pip install --no-deps --no-build-isolation -e . \
    && AIRFLOW_HOME=/tmp/import-check python -c "import ledgerbridge, ledgerbridge_airflow, airflow.providers.celery.executors.celery_executor_utils" \
    && rm -rf /tmp/import-check \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/ledgerbridge/data /opt/ledgerbridge/config \
    && chown -R airflow:0 /opt/airflow /opt/ledgerbridge/data /opt/ledgerbridge/config

USER airflow
