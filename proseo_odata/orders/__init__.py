"""Production orders: the life-cycle state machine and validation of new orders against workflows."""
