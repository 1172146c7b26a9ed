"""A Dockerfile, parsed (pure): its instructions with the line each starts on (comments
dropped, ``\\`` continuations joined), its stages by ``FROM``, and what in it needs BuildKit.

`devenv check` lints the parse; `devenv doctor` asks it whether the project can build without
buildx (the classic builder). Kept apart from the lint rules so doctor loads only this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instruction:
    line: int  # where it starts (1-based)
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # continuations joined


@dataclass
class Stage:
    line: int
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Instruction]:
    """A Dockerfile's instructions, comments dropped and `\\` continuations joined."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = joined.partition(" ")
        found.append(Instruction(start, keyword.upper(), args.strip()))
    if pending:
        joined = " ".join(pending)
        keyword, _, args = joined.partition(" ")
        found.append(Instruction(start, keyword.upper(), args.strip()))
    return found


def stages(instructions: list[Instruction]) -> list[Stage]:
    found: list[Stage] = []
    for item in instructions:
        if item.keyword == "FROM":
            words = [w for w in item.args.split() if not w.startswith("--")]
            image = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            found.append(Stage(item.line, image, name))
        elif found:
            found[-1].instructions.append(item)
    return found


# -- what needs BuildKit (doctor's buildx check) -----------------------------------------------

_HEREDOC = re.compile(r"(?<!<)<<-?\s*([\"']?)[A-Za-z_][A-Za-z0-9_]*\1")
_DIRECTIVE = re.compile(r"^#\s*(syntax|check)\s*=\s*(\S.*)$", re.I)
_PLATFORM_ARGS = re.compile(r"\$\{?((BUILD|TARGET)(PLATFORM|OS|ARCH)|TARGETVARIANT)\b")
# flag -> whether the classic builder fails (or builds something else) on it; False: it ignores it
_RUN_FLAGS = {"--mount": True, "--network": True, "--security": True}
_COPY_FLAGS = {"--chmod": True, "--parents": True, "--exclude": True, "--link": False, "--checksum": False}


@dataclass(frozen=True)
class BuildKitUse:
    """A Dockerfile line that needs BuildKit: ``breaks`` when the classic builder fails on it
    (or silently builds something else); otherwise it ignores the feature and builds."""

    file: str
    line: int
    feature: str
    breaks: bool

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def buildkit_uses(text: str, file: str, target: str | None = None) -> list[BuildKitUse]:
    """What in a Dockerfile the classic builder (no buildx) cannot build or ignores. Only the
    stages up to ``target`` count: the classic builder builds those and no others."""
    found: list[BuildKitUse] = []
    for number, raw in enumerate(text.splitlines(), 1):  # parser directives: the first lines only
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        found.append(BuildKitUse(file, number, f"the `# {match[1].lower()}=` directive", False))
    instructions = parse(text)
    all_stages = stages(instructions)
    names = [stage.name for stage in all_stages]
    if target in names and names.index(target) + 1 < len(all_stages):
        end = all_stages[names.index(target) + 1].line
        instructions = [item for item in instructions if item.line < end]
    for item in instructions:
        flags = [word.split("=", 1)[0] for word in _leading_flags(item.args)]
        known = _RUN_FLAGS if item.keyword == "RUN" else _COPY_FLAGS if item.keyword in ("COPY", "ADD") else {}
        for flag in flags:
            if flag in known:
                found.append(BuildKitUse(file, item.line, f"{item.keyword} {flag}", known[flag]))
        if item.keyword in ("RUN", "COPY", "ADD") and _HEREDOC.search(item.args):
            found.append(BuildKitUse(file, item.line, f"a heredoc ({item.keyword} <<)", True))
        platform = _PLATFORM_ARGS.search(item.args)
        if platform:
            found.append(BuildKitUse(file, item.line, f"${platform[1]} (set by BuildKit only)", False))
    return sorted(found, key=lambda use: use.line)


def _leading_flags(args: str) -> list[str]:
    flags = []
    for word in args.split():
        if not word.startswith("--"):
            break
        flags.append(word)
    return flags
