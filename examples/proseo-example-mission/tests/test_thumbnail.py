"""The mission's own processor test: no database needed, just the processor contract."""
from PIL import Image

from proseo_example_mission.processor import ThumbnailProcessor
from proseo_odata.production.processors import CancelToken, ProcessorInput


def test_thumbnail(tmp_path):
    source = tmp_path / "scene.png"
    Image.new("RGB", (200, 100), (200, 10, 10)).save(source)
    (tmp_path / "scratch").mkdir()
    [out] = ThumbnailProcessor({}).run(
        ProcessorInput(path=source, scratch_dir=tmp_path / "scratch", options={"Size": "50", "Grey": "true"}),
        lambda fraction, message: None,
        CancelToken(),
    )
    with Image.open(out.path) as img:
        assert img.size == (50, 25) and img.mode == "L"
    assert out.name == "scene_thumb.png"
