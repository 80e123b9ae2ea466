"""``bench.quicklooks`` runs end to end on a few products: the command's summaries must be what
the benchmark expects of its catalogue (it stops with an error otherwise), so that its table in
bench/README.md can be made again."""
from bench.quicklooks import main


def test_the_quicklooks_benchmark_runs_and_checks_its_summaries(capsys):
    assert main(["--products", "12", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "12 products by reference on SQLite" in out and "every summary as expected" in out
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == ["what", "first", "again", "--again", "raw"]
