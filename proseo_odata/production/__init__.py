"""On-demand production: workflow definitions, processors, and the worker engine."""
