"""proseo-odata: the framework-agnostic core of the PRIP and ODIP services."""
