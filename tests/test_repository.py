"""The repository stays small enough for a lent GPU: the device tool carries at most 64 MiB per
call (tracked files, plus the ``.carry/`` folder that ``egs/speech16k/gpu/pack.sh`` fills), and the
tracked files keep at most 32 MiB of that, so that training data fits beside them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def tracked_bytes() -> int:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    )
    return sum((ROOT / name).stat().st_size for name in names if name and (ROOT / name).is_file())


def test_tracked_files_leave_half_of_a_device_call_for_data() -> None:
    assert tracked_bytes() <= 32 * MIB


@pytest.mark.parametrize("pack", [".carry", ".carry-tts"])
def test_a_device_call_with_the_packed_carry_fits(pack: str) -> None:
    """Each GPU pack (egs/speech16k/gpu and egs/tts16k/gpu) travels alone beside the tracked files."""
    carry = ROOT / pack
    packed = sum(path.stat().st_size for path in carry.rglob("*") if path.is_file()) if carry.exists() else 0
    assert tracked_bytes() + packed <= 64 * MIB


def test_the_shell_scripts_parse_and_source_files_that_exist() -> None:
    """A device call cannot be retried cheaply: its scripts must at least parse, and what they
    source must be there."""
    scripts = sorted(ROOT.glob("egs/**/*.sh")) + sorted(ROOT.glob(".ci/*"))
    assert any(path.name == "device_lib.sh" for path in scripts)
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
        for line in script.read_text().splitlines():
            words = line.split()
            if words[:1] == ["source"]:
                assert (ROOT / words[1]).is_file(), (script, line)  # paths from the repository root
