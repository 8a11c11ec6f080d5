#!/usr/bin/python3
"""The dashboard's size budget (issue 16): every file jobd serves under /ui, gzipped one by one
(level 9, as a server or proxy would compress it), must add up to at most the budget.

    asset_budget.py server/api/ui [--budget-kib 150]

Prints each file's raw and gzipped size and the totals; exits 1 when over budget.
"""
import argparse
import gzip
import pathlib
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ui_dir", type=pathlib.Path)
    parser.add_argument("--budget-kib", type=float, default=150)
    args = parser.parse_args()
    # The files embed_assets.cmake compiles in: all but dot-files.
    files = sorted(p for p in args.ui_dir.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(args.ui_dir).parts))
    if not files:
        print(f"no assets in {args.ui_dir}", file=sys.stderr)
        return 1
    raw_total = gzip_total = 0
    for path in files:
        data = path.read_bytes()
        packed = len(gzip.compress(data, compresslevel=9, mtime=0))
        raw_total += len(data)
        gzip_total += packed
        print(f"{len(data):>9,} B {packed:>9,} B gz  /ui/{path.relative_to(args.ui_dir)}")
    budget = int(args.budget_kib * 1024)
    verdict = "within" if gzip_total <= budget else "OVER"
    print(f"{raw_total:>9,} B {gzip_total:>9,} B gz  total of {len(files)} files: "
          f"{gzip_total / 1024:.1f} KiB gzipped, {verdict} the budget of {args.budget_kib:g} KiB")
    return 0 if gzip_total <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
