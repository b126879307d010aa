"""What a CLI run printed, without the progress stages (churnlab.progress): each finished
stage leaves a line ``<stage>[: n[/total]]  <seconds> s`` and its notes indented below it.
Error tests check that what is left is exactly one ``error:`` line."""

import re

STAGE = re.compile(r"^\S.*  \d+\.\d s$")


def output_lines(output: str) -> list[str]:
    """The non-blank lines of ``output`` that are not progress stages or their notes.

    >>> output_lines("features per cutoff: 3/3  1.2 s\\n  a note\\nerror: bad\\n")
    ['error: bad']
    """
    lines, in_stage = [], False
    for line in output.splitlines():
        if STAGE.match(line):
            in_stage = True
        elif in_stage and line.startswith("  "):
            continue
        else:
            in_stage = False
            if line.strip():
                lines.append(line)
    return lines
