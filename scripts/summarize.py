"""Sum the layers' JUnit XML into one closing line ``N passed, N failed``.

A skipped test counts as failed (the project's rule), and so does a layer that wrote no
report or ran no test: exit status 1 then.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(report: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) over every testcase in one JUnit file."""
    passed = failed = skipped = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        outcomes = {child.tag for child in case}
        if outcomes & {"failure", "error"}:
            failed += 1
        elif "skipped" in outcomes:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(results: str, layers: list[str]) -> int:
    total_passed = total_failed = 0
    ok = True
    for layer in layers:
        report = Path(results) / f"{layer}.xml"
        if not report.exists():
            print(f"{layer}: no report (the layer did not run)")
            total_failed += 1
            ok = False
            continue
        passed, failed, skipped = count(report)
        print(f"{layer}: {passed} passed, {failed} failed, {skipped} skipped")
        if passed + failed + skipped == 0:
            print(f"{layer}: ran no test")
            ok = False
        total_passed += passed
        total_failed += failed + skipped
        ok = ok and failed == 0 and skipped == 0
    print(f"{total_passed} passed, {total_failed} failed")
    return 0 if ok and total_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
