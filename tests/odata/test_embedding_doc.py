"""docs/embedding.md: the complete example is extracted from the Markdown and run."""
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_embedding_example_runs():
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/embedding.md has no python example"
    example = max(blocks, key=len)
    assert "compile_filter_sql" in example and "EntityMapping" in example
    namespace = {"__name__": "embedding_example"}
    exec(compile(example, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["search"]("Title eq 'Ulysses'") == [3]
