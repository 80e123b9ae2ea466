"""The image format processor: real work with Pillow.

Input: a product file that is either a ``.zip`` holding an image (the demo products carry a small
PNG quick-look and a ``manifest.xml``) or a bare image file. Output: one ``.zip`` holding the
image converted to the format the order asks for, plus the input's ``manifest.xml`` (when there
is one), named like the output product (``S2B_MSIL1C_...zip`` -> ``S2B_MSIL2A_...zip``).

Processor configuration (``processor_config`` in the workflow definition), all optional:

``format_option`` (default ``"ImageFormat"``)
    the workflow option that holds the output format.
``formats`` (default ``{"GEOTIFF": "TIFF", "TIFF": "TIFF", "JPG": "JPEG", "JPEG": "JPEG", "PNG": "PNG"}``)
    option value -> Pillow format name.
``rename`` (default ``{}``)
    substring replacements applied to the input's name to form the output's name, e.g.
    ``{"MSIL1C": "MSIL2A"}``; when none applies, ``_<OutputProductType>`` is appended.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from proseo_odata.production.processors import (
    CancelToken,
    Processor,
    ProcessingFailed,
    ProcessorInput,
    ProcessorOutput,
    ProgressCallback,
)

DEFAULT_FORMATS = {"GEOTIFF": "TIFF", "TIFF": "TIFF", "JPG": "JPEG", "JPEG": "JPEG", "PNG": "PNG"}
EXTENSIONS = {"TIFF": ".tif", "JPEG": ".jpg", "PNG": ".png"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".jp2", ".webp"}


def output_name(input_name: str, rename: dict, output_product_type: str, suffix: str) -> str:
    """Output product name from the input's: apply ``rename``; else append the output type."""
    stem = input_name
    for known in (".zip", ".SAFE", ".tar", ".gz", *IMAGE_SUFFIXES):
        if stem.lower().endswith(known.lower()):
            stem = stem[: -len(known)]
            break
    renamed = stem
    for old, new in (rename or {}).items():
        renamed = renamed.replace(old, new)
    if renamed == stem:
        renamed = f"{stem}_{output_product_type}" if output_product_type else f"{stem}_out"
    return renamed + suffix


class ImageFormatProcessor(Processor):
    """Convert the product's image to the requested format (Pillow) and package it as a zip."""

    def __init__(self, config=None):
        super().__init__(config)
        self.format_option = self.config.get("format_option", "ImageFormat")
        self.formats = {k.upper(): v for k, v in self.config.get("formats", DEFAULT_FORMATS).items()}
        self.rename = dict(self.config.get("rename", {}))
        for pillow_format in self.formats.values():
            if pillow_format not in EXTENSIONS:
                raise ValueError(f"image processor: unsupported output format {pillow_format!r}")

    def _read_input(self, path: Path):
        """``(image bytes, image member name, manifest bytes or None)``."""
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                images = [n for n in names if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES]
                if not images:
                    raise ProcessingFailed(f"input product {path.name} contains no image file")
                manifests = [n for n in names if PurePosixPath(n).name.lower() == "manifest.xml"]
                manifest = archive.read(manifests[0]) if manifests else None
                return archive.read(images[0]), PurePosixPath(images[0]).name, manifest
        return path.read_bytes(), path.name, None

    def run(self, job: ProcessorInput, progress: ProgressCallback, cancel: CancelToken) -> list[ProcessorOutput]:
        requested = str(job.options.get(self.format_option, "")).upper()
        if requested not in self.formats:
            raise ProcessingFailed(
                f"unsupported {self.format_option} {requested!r}; supported: {', '.join(sorted(self.formats))}"
            )
        pillow_format = self.formats[requested]
        progress(0.0, "reading input")
        data, member, manifest = self._read_input(job.path)
        cancel.raise_if_cancelled()
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                if pillow_format == "JPEG" and img.mode not in ("RGB", "L"):
                    img = img.convert("RGB")
                buffer = io.BytesIO()
                img.save(buffer, format=pillow_format)
        except UnidentifiedImageError:  # (its text quotes an in-memory file object's repr)
            raise ProcessingFailed(f"cannot convert {member} of {job.path.name}: it is not an image Pillow reads") from None
        except OSError as exc:
            raise ProcessingFailed(f"cannot convert image {member} of {job.path.name}: {exc}") from exc
        progress(0.6, f"converted to {pillow_format}")
        cancel.raise_if_cancelled()

        input_name = getattr(job.product, "name", None) or job.path.name
        name = output_name(input_name, self.rename, job.output_product_type, ".zip")
        image_name = output_name(PurePosixPath(member).stem, self.rename, "", EXTENSIONS[pillow_format])
        if image_name.endswith("_out" + EXTENSIONS[pillow_format]):
            image_name = PurePosixPath(member).stem + EXTENSIONS[pillow_format]
        out_dir = job.scratch_dir / "output"
        out_dir.mkdir(parents=True, exist_ok=True)
        out_path = out_dir / name
        with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(image_name, buffer.getvalue())
            if manifest is not None:
                archive.writestr("manifest.xml", manifest)
        progress(1.0, "packaged")
        return [
            ProcessorOutput(
                path=out_path,
                name=name,
                content_type="application/zip",
                attributes={"imageFormat": requested},
            )
        ]
