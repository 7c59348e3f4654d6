"""The `replicate` command: list, run, book, bench, data fetch.

Bad input (unknown chapter, profile, parameter, a value of the wrong type) stops before any work with one
line naming the valid choices and exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from .config import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"replicate: error: {message}\n")


def _cmd_list(args) -> int:
    from . import chapters
    from .config import describe_full

    for name in chapters.names():
        ch = chapters.get(name)
        print(f"{name}: {ch.title}")
        print(f"  notebooks: {', '.join(ch.notebooks)}")
        for pname, prof in ch.profiles.items():
            default = " (default)" if pname == ch.default_profile else ""
            print(f"  profile {pname}{default}:")
            if args.brief:
                continue
            for row in describe_full(prof):
                paper = ""
                if "paper" in row and row["paper"] != row["value"]:
                    paper = f" [paper: {row['paper']!r}" + (f", {row['source']}" if row["source"] else "") + "]"
                print(f"    {row['name']}: {row['type']} = {row['value']!r}{paper}")
                if row["help"] and not args.values:
                    print(f"        {row['help']}")
    return 0


def _cmd_run(args) -> int:
    from . import runner
    from .config import parse_overrides

    overrides = parse_overrides(args.param)
    runner.plan(args.chapters, args.profile, overrides)  # validate everything before any work
    try:
        runner.run(args.chapters, args.profile, overrides, progress=not args.quiet, force=args.force,
                   nproc=args.nproc)
    except runner.ChapterFailed as e:
        print(f"replicate: failed: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_book(args) -> int:
    from . import paths, runner
    from .config import parse_overrides

    overrides = parse_overrides(args.param)
    runner.plan(["all"], args.profile, overrides, preflight=not args.no_run)
    try:
        if not args.no_run:
            runner.run(["all"], args.profile, overrides, progress=not args.quiet, force=args.force,
                       nproc=args.nproc)
        html = runner.build_book()
    except runner.ChapterFailed as e:
        print(f"replicate: failed: {e}", file=sys.stderr)
        return 1
    index = html / "index.html"
    print(f"\nThe book is in {html}\nOpen it with:  xdg-open {index}   (or: python -m http.server -d {html} 8000)")
    _ = paths
    return 0


def _cmd_bench(args) -> int:
    from . import bench

    r = bench.run(args.chapter, quick=args.quick, store=not args.no_store)
    print(bench.format_result(args.chapter, r))
    return 0


def _cmd_data(args) -> int:
    from . import data

    if args.action == "list":
        for name, src in data.sources().items():
            where = data.cache_path(name)
            state = "present" if data._usable(where, src) else "absent"
            print(f"{name}: {src.title} [{state}] {where}")
        return 0
    if not args.name:
        raise UsageError(f"name a data set to fetch; valid names: {', '.join(sorted(data.sources()))}")
    try:
        data.fetch(args.name, force=args.force)
    except data.DataMissing as e:
        print(f"replicate: {e}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="replicate", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("list", help="chapters, notebooks, profiles and their parameters")
    s.add_argument("--brief", action="store_true", help="profiles without their parameters")
    s.add_argument("--values", action="store_true", help="parameters without their help")
    s.set_defaults(fn=_cmd_list)

    for name, fn, hlp in (("run", _cmd_run, "execute chapters' notebooks with papermill"),
                          ("book", _cmd_book, "execute every chapter and build the HTML book")):
        s = sub.add_parser(name, help=hlp)
        if name == "run":
            s.add_argument("chapters", nargs="+", metavar="CHAPTER", help="a chapter name, several, or 'all'")
        s.add_argument("--profile", default="smoke", help="profile name (default: smoke)")
        s.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="override a parameter")
        s.add_argument("-q", "--quiet", action="store_true", help="no per-cell progress bars")
        s.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="train on N processes (torchrun + DDP; one per GPU), default 1")
        s.add_argument("--force", action="store_true",
                       help="recompute every record instead of re-using a stored one with the same key")
        if name == "book":
            s.add_argument("--no-run", action="store_true", help="build from the notebooks already executed")
        s.set_defaults(fn=fn)

    s = sub.add_parser("bench", help="throughput of a chapter's hot loop vs its reference route (GPU)")
    s.add_argument("chapter")
    s.add_argument("--quick", action="store_true", help="small shapes, for a CPU check of the harness")
    s.add_argument("--no-store", action="store_true", help="do not write a result record")
    s.set_defaults(fn=_cmd_bench)

    s = sub.add_parser("data", help="the data cache: list, fetch NAME")
    s.add_argument("action", choices=("list", "fetch"))
    s.add_argument("name", nargs="?")
    s.add_argument("--force", action="store_true", help="download again even if present")
    s.set_defaults(fn=_cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except UsageError as e:
        print(f"replicate: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
