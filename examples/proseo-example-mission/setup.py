"""An example mission plug-in for proseo-odata: one workflow and its processor.

Installing this package (``pip install .``) makes its workflow appear in every proseo-odata
deployment of the same environment whose database has the mission ``EXAMPLE``: the workflow is
found through the entry point group ``proseo_odata.workflows``, the processor through
``proseo_odata.processors``.
"""
from setuptools import setup

setup(
    name="proseo-example-mission",
    version="1.0.0",
    description="Example mission workflow plug-in for proseo-odata (thumbnails)",
    packages=["proseo_example_mission"],
    python_requires=">=3.11",
    install_requires=["proseo-odata", "pillow>=10.0"],
    entry_points={
        # Each entry point returns a list of workflow definitions (see docs/workflows.md).
        "proseo_odata.workflows": ["example = proseo_example_mission:workflows"],
        # Optional: a short processor name the definitions can use instead of a dotted name.
        "proseo_odata.processors": ["example-thumbnail = proseo_example_mission.processor:ThumbnailProcessor"],
    },
)
