"""The EXAMPLE mission's processor: a PNG thumbnail of the input image (Pillow)."""
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from proseo_odata.production.processors import ProcessingFailed, Processor, ProcessorOutput


class ThumbnailProcessor(Processor):
    def __init__(self, config=None):
        super().__init__(config)
        self.suffix = self.config.get("suffix", "_thumb")

    def run(self, job, progress, cancel):
        size = int(job.options.get("Size", "64"))
        if size < 1:
            raise ProcessingFailed(f"Size must be positive, got {size}")
        cancel.raise_if_cancelled()
        try:
            with Image.open(job.path) as img:
                img.thumbnail((size, size))
                if job.options.get("Grey") == "true":
                    img = img.convert("L")
                out_dir = Path(job.scratch_dir) / "out"
                out_dir.mkdir(exist_ok=True)
                name = Path(job.path).stem + self.suffix + ".png"
                img.save(out_dir / name, format="PNG")
        except (UnidentifiedImageError, OSError) as exc:
            raise ProcessingFailed(f"cannot read image {Path(job.path).name}: {exc}") from exc
        progress(1.0, "thumbnail written")
        return [ProcessorOutput(path=out_dir / name, name=name, content_type="image/png",
                                attributes={"thumbnailSize": size})]
