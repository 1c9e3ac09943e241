"""The configuration: loading and checking it (schema.yaml), the operating settings jobs need but
must not track, and connection strings fit to print."""
