"""PRIP: the product catalogue service (contract sections 3, 5, 6).

``config.include("proseo_odata_web.prip")`` mounts the catalogue under ``proseo.prip.prefix``.
To mount it elsewhere, or a second time, call the ``add_prip_service`` directive with another
prefix and a distinct name::

    config.add_prip_service("/mirror/prip/odata/v1", name="prip-mirror")

Subscriptions (:mod:`proseo_odata_web.prip.subscriptions`) are mounted under the same prefix.
"""
from __future__ import annotations


def add_prip_service(config, prefix: str, name: str = "prip") -> None:
    """Register the PRIP routes (products and subscriptions) under ``prefix``; ``name`` keeps
    route names unique."""
    from ..service import add_mount, add_routes
    from . import nodes, products, subscriptions

    add_routes(config, products.ROUTES + nodes.ROUTES + subscriptions.ROUTES, prefix, name, "PRIP")
    add_mount(config, prefix, "prip")


def includeme(config) -> None:
    config.add_directive("add_prip_service", add_prip_service)
    add_prip_service(config, config.registry.proseo.prip_prefix, "prip")
