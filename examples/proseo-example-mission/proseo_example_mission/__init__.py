"""Workflows of the EXAMPLE mission, registered through the ``proseo_odata.workflows`` entry point."""

WORKFLOW_ID = "c0ffee00-1234-4abc-8def-0123456789ab"


def workflows(settings=None):
    """The mission's workflow definitions (``settings``: the deployment's settings mapping)."""
    size = int((settings or {}).get("example.thumbnail.default_size", 64))
    return [
        {
            "id": WORKFLOW_ID,
            "mission": "EXAMPLE",
            "name": "EX_THUMBNAIL",
            "version": "1.0",
            "description": "Makes a PNG thumbnail of an EX_IMAGE product",
            "input_product_type": "EX_IMAGE",
            "output_product_type": "EX_THUMB",
            "options": [
                {"name": "Size", "type": "Integer", "description": "longest side in pixels",
                 "default": str(size)},
                {"name": "Grey", "type": "Boolean", "description": "grey-scale output", "default": "false"},
            ],
            "processor": "example-thumbnail",
            "processor_config": {"suffix": "_thumb"},
            "enabled": True,
            "output_retention_days": 3,
        }
    ]
