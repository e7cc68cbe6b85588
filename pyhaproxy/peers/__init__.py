"""HAProxy's peers protocol: stick-table synchronisation between processes (run by the master)."""
