#!/usr/bin/env python3
"""The playbook crate's module graph: no import cycle, no import from a lower layer upward.

Reads every `crate::` and `super::` path in `shared/playbook/src` (test modules left out: a
test may read a sample through intake), maps it to the top-level module it names, and checks
the graph against LAYERS. `make test` runs it; `--graph` prints the edges.

Why not cargo-modules: it builds rust-analyzer's crates (many minutes on two cores, in every
CI run) to answer a question these ~100 lines answer from the source text.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "shared" / "playbook" / "src"

# Bottom up. A module may import from its own layer's other modules (no cycle) and any lower one.
LAYERS = [
    # The domain: what an incident, an observation, the settings and the policy are, and the
    # data the later stages pass along (timeline and sequence data, a report's outcomes).
    ["names", "settings", "policy", "place", "incident", "securityhub", "observation", "report",
     "timeline", "config_rules", "config_history"],
    ["intake"],
    ["target"],
    ["plan"],
    ["links", "page"],
    # The AWS adapters, the clients they run on, and the log line of each call.
    ["actions", "clients", "telemetry"],
    ["ledger", "execute", "response", "error"],
    ["responder", "starting"],
]
RANK = {module: rank for rank, layer in enumerate(LAYERS) for module in layer}

USE_GROUP = re.compile(r"\bcrate::\{([^;]*?)\}", re.S)
PATH = re.compile(r"\b(crate|super(?:::super)*)::(\w+)")


def module_of(path: Path) -> list[str]:
    """The module path of a source file, as a list: `plan/ec2.rs` -> ["plan", "ec2"]."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def code(text: str) -> str:
    """The file's code up to its test module (by convention its last item), without comments:
    a doc link names a module without importing it."""
    cut = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod tests\b", text, re.M)
    text = text[: cut.start()] if cut else text
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


def top_level_names(group: str) -> set[str]:
    """The first segment of each path in a `crate::{...}` group, nested braces skipped."""
    names, depth, current = set(), 0, ""
    for char in group:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            current = ""
            continue
        if depth == 0 and (char.isalnum() or char == "_") and current is not None:
            current += char
        elif depth == 0 and current:
            names.add(current)
            current = None
    if current:
        names.add(current)
    return names


def imports() -> dict[str, set[str]]:
    """Top-level module -> the top-level modules its files name."""
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.rs")):
        module = module_of(path)
        if module in (["lib"], ["main"]):
            continue
        text = code(path.read_text())
        named = set()
        for group in USE_GROUP.finditer(text):
            named |= top_level_names(group.group(1))
        for root, name in PATH.findall(text):
            if root == "crate":
                named.add(name)
            else:
                # super from a/b/c (module [a, b, c]) is [a, b]: its top is module[0] unless
                # it climbs to the crate root, where the next segment names the module.
                up = root.count("super")
                parent = module[:-up]
                named.add(parent[0] if parent else name)
        named.discard(module[0])
        graph.setdefault(module[0], set()).update(n for n in named if (SRC / n).exists()
                                                  or (SRC / f"{n}.rs").exists())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    graph = imports()
    if "--graph" in sys.argv:
        for module in sorted(graph, key=lambda m: (RANK.get(m, -1), m)):
            print(f"{module} -> {', '.join(sorted(graph[module])) or '-'}")
    problems = []
    for module in sorted(graph):
        if module not in RANK:
            problems.append(f"{module}: in no layer (add it to LAYERS in {Path(__file__).name})")
            continue
        for named in sorted(graph[module]):
            if RANK.get(named, -1) > RANK[module]:
                problems.append(f"{module} imports {named}, a higher layer")
    for component in cycles(graph):
        problems.append("import cycle: " + " -> ".join(component))
    for problem in problems:
        print(problem)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
