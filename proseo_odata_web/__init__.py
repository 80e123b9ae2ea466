"""Pyramid/Cornice web application serving PRIP and ODIP."""
