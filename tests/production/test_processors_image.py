"""The Pillow image processor, run for real on demo-like products (zip with PNG + manifest)."""
import io
import zipfile

import pytest
from PIL import Image

from proseo_odata.production.image import ImageFormatProcessor, output_name
from proseo_odata.production.processors import (
    CancelToken,
    ProcessingCancelled,
    ProcessingFailed,
    ProcessorInput,
    create_processor,
)

L1C_NAME = "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip"
MANIFEST = b"<manifest><productType>S2MSI1C</productType></manifest>"


def png_bytes(size=(16, 12), mode="RGBA"):
    img = Image.new(mode, size, (10, 120, 200, 255) if mode == "RGBA" else (10, 120, 200))
    img.paste((250, 0, 0, 255) if mode == "RGBA" else (250, 0, 0), (0, 0, 8, 8))  # a red block
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def product_zip(tmp_path):
    path = tmp_path / L1C_NAME
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.xml", MANIFEST)
        archive.writestr("preview/quicklook.png", png_bytes())
    return path


def run(processor, path, tmp_path, fmt, cancel=None):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    seen = []
    outputs = processor.run(
        ProcessorInput(path=path, scratch_dir=scratch, options={"ImageFormat": fmt}, output_product_type="S2MSI2A"),
        lambda fraction, message: seen.append(fraction),
        cancel or CancelToken(),
    )
    return outputs, seen


@pytest.mark.parametrize("fmt,pillow_format,suffix", [("JPG", "JPEG", ".jpg"), ("GEOTIFF", "TIFF", ".tif")])
def test_zip_product_is_converted_and_packaged(product_zip, tmp_path, fmt, pillow_format, suffix):
    processor = create_processor("image", {"rename": {"MSIL1C": "MSIL2A"}})
    outputs, progress = run(processor, product_zip, tmp_path, fmt)
    assert len(outputs) == 1
    out = outputs[0]
    assert out.name == L1C_NAME.replace("MSIL1C", "MSIL2A")
    assert out.path.name == out.name and out.path.is_file()
    assert str(out.path).startswith(str(tmp_path / "scratch"))
    assert out.content_type == "application/zip"
    with zipfile.ZipFile(out.path) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(["manifest.xml", "quicklook" + suffix])
        assert archive.read("manifest.xml") == MANIFEST
        with Image.open(io.BytesIO(archive.read("quicklook" + suffix))) as img:
            assert img.format == pillow_format
            assert img.size == (16, 12)
            red = img.convert("RGB").getpixel((3, 4))
            blue = img.convert("RGB").getpixel((13, 10))
            assert red[0] > 200 and red[1] < 60  # the red block survived (JPEG is lossy)
            assert blue[2] > 150 and blue[0] < 60
    assert progress[0] == 0.0 and progress[-1] == 1.0


def test_bare_image_file_is_accepted(tmp_path):
    path = tmp_path / "scene.png"
    path.write_bytes(png_bytes(mode="RGB"))
    outputs, _ = run(ImageFormatProcessor({}), path, tmp_path, "jpg")  # case-insensitive value
    assert outputs[0].name == "scene_S2MSI2A.zip"
    with zipfile.ZipFile(outputs[0].path) as archive:
        assert archive.namelist() == ["scene.jpg"]


def test_unsupported_format_fails_with_reason(product_zip, tmp_path):
    with pytest.raises(ProcessingFailed, match="unsupported ImageFormat 'BMP'"):
        run(ImageFormatProcessor({}), product_zip, tmp_path, "BMP")


def test_zip_without_image_fails(tmp_path):
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.xml", MANIFEST)
    with pytest.raises(ProcessingFailed, match="contains no image"):
        run(ImageFormatProcessor({}), path, tmp_path, "JPG")


def test_corrupt_image_fails(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with pytest.raises(ProcessingFailed, match="cannot convert (image )?broken.png") as info:
        run(ImageFormatProcessor({}), path, tmp_path, "JPG")
    # the order's StatusMessage: no interpreter object repr, no memory address
    assert "BytesIO" not in str(info.value) and " at 0x" not in str(info.value), str(info.value)


def test_cancelled_token_stops_before_work(product_zip, tmp_path):
    token = CancelToken()
    token.cancel("request cancelled by user")
    with pytest.raises(ProcessingCancelled):
        run(ImageFormatProcessor({}), product_zip, tmp_path, "JPG", cancel=token)
    assert not (tmp_path / "scratch" / "output").exists()


@pytest.mark.parametrize(
    "name,rename,out_type,expected",
    [
        (L1C_NAME, {"MSIL1C": "MSIL2A"}, "S2MSI2A", L1C_NAME.replace("MSIL1C", "MSIL2A")),
        ("A.SAFE", {"MSIL1C": "MSIL2A"}, "T2", "A_T2.zip"),
        ("a.zip", {}, "", "a_out.zip"),
    ],
)
def test_output_name(name, rename, out_type, expected):
    assert output_name(name, rename, out_type, ".zip") == expected
