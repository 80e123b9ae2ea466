"""Demo external processor: gzip-compress a product file (the DEMO mission's ``DEMO_COMPRESS``).

Run by :class:`proseo_odata.production.external.ExternalCommandProcessor` as
``{python} -m proseo_odata.demo.compress {input} {output_dir} --name {input_name} --level {option:CompressionLevel}``.
It writes ``<name>.gz`` into the output folder, prints ``PROGRESS`` lines, and exits non-zero
with a message on standard error when the input cannot be read.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output_dir")
    parser.add_argument("--name", help="output base name (default: the input file name)")
    parser.add_argument("--level", type=int, default=6, help="gzip compression level 1..9")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before working (demo of long runs)")
    args = parser.parse_args(argv)
    if not 1 <= args.level <= 9:
        print(f"compression level must be 1..9, got {args.level}", file=sys.stderr)
        return 2
    print("PROGRESS 0", flush=True)
    if args.delay > 0:
        time.sleep(args.delay)
    name = (args.name or os.path.basename(args.input)) + ".gz"
    target = os.path.join(args.output_dir, name)
    try:
        with open(args.input, "rb") as src, gzip.open(target, "wb", compresslevel=args.level) as dst:
            shutil.copyfileobj(src, dst)
    except OSError as exc:
        print(f"cannot compress {args.input}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {name} ({os.path.getsize(target)} bytes)", flush=True)
    print("PROGRESS 100", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
