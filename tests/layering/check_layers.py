#!/usr/bin/env python3
"""Checks that every server folder includes only the layers below it (docs/DESIGN.md §2).

The libraries already link only downward (an upward call fails to link); this catches what the
linker cannot: an upward include of a header-only piece (a type, an inline function).
Exit 0 when every include is allowed, 1 with one line per offending include otherwise.

    tests/layering/check_layers.py [REPO_ROOT]
"""
import pathlib
import re
import sys

# folder -> folders its files may include (besides itself). "proto" is jobd/proto/...
ALLOWED = {
    "config": set(),
    "metrics": {"proto"},
    "kinds": {"proto"},
    "kinds/testing": {"kinds", "proto"},
    "exec": {"kinds", "proto"},
    "store": {"store/redis", "proto"},
    # The Redis client: hiredis, Asio and the standard library; nothing of jobd's but proto.
    "store/redis": {"proto"},
    "jobs": {"exec", "kinds", "store", "proto"},
    # Replicas on Redis: the job table and scheduler below it, the Redis model and client.
    "cluster": {"jobs", "exec", "kinds", "store", "store/redis", "proto"},
    "http": {"config", "proto"},
    "api": {"http", "cluster", "jobs", "exec", "kinds", "store", "metrics", "config", "proto"},
    "app": {"api", "http", "cluster", "jobs", "exec", "kinds", "store", "store/redis", "metrics", "config", "proto"},
}
# main.cpp wires everything, the test kinds included.
MAIN_ALLOWED = set(ALLOWED) | {"proto"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of_include(path: str) -> str | None:
    parts = path.split("/")
    if parts[0] == "jobd" and len(parts) > 1:
        return parts[1]  # jobd/proto/..., jobd/client/...
    if parts[0] == "kinds" and len(parts) > 2 and parts[1] == "testing":
        return "kinds/testing"
    if parts[0] == "store" and len(parts) > 2 and parts[1] == "redis":
        return "store/redis"
    return parts[0] if len(parts) > 1 else None


def folder_of_source(relative: pathlib.Path) -> str:
    parts = relative.parts
    if len(parts) > 2 and parts[0] == "kinds" and parts[1] == "testing":
        return "kinds/testing"
    if len(parts) > 2 and parts[0] == "store" and parts[1] == "redis":
        return "store/redis"
    return parts[0]


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2])
    server = root / "server"
    problems = []
    for source in sorted(list(server.rglob("*.cpp")) + list(server.rglob("*.hpp"))):
        relative = source.relative_to(server)
        is_main = relative.parts == ("main.cpp",) or relative.parts == ("pch.cpp",)
        folder = None if is_main else folder_of_source(relative)
        if folder is not None and folder not in ALLOWED:
            problems.append(f"server/{relative}: folder '{folder}' has no entry in the layer table")
            continue
        allowed = MAIN_ALLOWED if is_main else ALLOWED[folder] | {folder}
        for number, line in enumerate(source.read_text().splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = folder_of_include(match.group(1))
            if target is None or target in allowed:
                continue
            problems.append(f"server/{relative}:{number}: {folder or 'main'} must not include {match.group(1)}")
    for problem in problems:
        print(problem)
    if not problems:
        print("layering: every include goes downward")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
