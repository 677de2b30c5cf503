CREATE DATABASE ledgerbridge OWNER airflow;
