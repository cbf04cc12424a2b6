"""Two-process DDP training on CPU (gloo) with the tiny-vq recipe, in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "codec" / "tiny-vq.yaml"
TIMEOUT = 240

# Rank files are written by a callback so that both ranks' final weights can be compared.
DRIVER = """
import sys

import torch
from lightning import Callback
from lightning.pytorch.cli import LightningCLI

from codec.training.data import AudioDataModule
from codec.training.module import CodecModule


class DumpState(Callback):
    def on_train_end(self, trainer, pl_module):
        state = {
            "parameters": {n: p.detach().clone() for n, p in pl_module.named_parameters()},
            "buffers": {n: b.detach().clone() for n, b in pl_module.named_buffers()},
            "world_size": trainer.world_size,
            "global_step": trainer.global_step,
        }
        torch.save(state, f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    LightningCLI(
        CodecModule,
        AudioDataModule,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": [DumpState()]},
    )
"""


def ddp_args(save_dir: Path, strategy: str = "ddp") -> list[str]:
    return [
        "fit",
        "--config",
        str(RECIPE),
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        strategy,
        "--trainer.accelerator",
        "cpu",
        "--trainer.max_steps",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.logger.init_args.save_dir",
        str(save_dir),
        "--data.synthetic_items",
        "16",
    ]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    env.pop("MASTER_PORT", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def last_checkpoint(save_dir: Path) -> dict:
    path = save_dir / "tiny-vq" / "run" / "checkpoints" / "last.ckpt"
    assert path.is_file(), f"no checkpoint at {path}"
    return torch.load(path, map_location="cpu", weights_only=True)


def test_codec_train_two_process_ddp(tmp_path: Path) -> None:
    args = ddp_args(tmp_path / "runs", strategy="ddp_find_unused_parameters_true")
    result = run([sys.executable, "-m", "codec.cli", "train", *args], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = last_checkpoint(tmp_path / "runs")
    assert checkpoint["global_step"] == 2


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fit`` through LightningCLI directly (a script Lightning can re-launch), with the GAN active
    from the first step and unused-parameter detection on."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "driver.py").write_text(DRIVER)
    args = ddp_args(root / "runs", strategy="ddp_find_unused_parameters_true")
    result = run([sys.executable, str(root / "driver.py"), *args, "--model.gan_start_step", "0"], root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_ddp_run_checkpoint(ddp_run: Path) -> None:
    checkpoint = last_checkpoint(ddp_run / "runs")
    assert checkpoint["global_step"] == 2
    # 16 items / batch 4 / 2 ranks = 2 batches per epoch: the data was split between the ranks.
    assert checkpoint["epoch"] == 1
    g_state, d_state = (s["state"] for s in checkpoint["optimizer_states"])
    assert {int(s["step"]) for s in g_state.values()} == {2}
    assert {int(s["step"]) for s in d_state.values()} == {2}


def test_ddp_ranks_hold_identical_parameters(ddp_run: Path) -> None:
    ranks = [torch.load(ddp_run / f"rank{r}.pt", map_location="cpu", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["global_step"] for r in ranks] == [2, 2]
    first, second = (r["parameters"] for r in ranks)
    assert first.keys() == second.keys()
    assert any(n.startswith("discriminators.") for n in first)
    differ = [n for n in first if not torch.equal(first[n], second[n])]
    assert differ == [], f"parameters out of sync between ranks: {differ[:10]}"
    # The checkpoint holds these weights (rank 0 saves).
    checkpoint = last_checkpoint(ddp_run / "runs")
    assert all(torch.equal(checkpoint["state_dict"][n], first[n]) for n in first)


def test_ddp_ranks_hold_identical_codebooks(ddp_run: Path) -> None:
    first, second = (torch.load(ddp_run / f"rank{r}.pt", map_location="cpu", weights_only=True) for r in (0, 1))
    codebooks = [n for n in first["buffers"] if "_codebook." in n]
    assert codebooks
    differ = [n for n in codebooks if not torch.equal(first["buffers"][n], second["buffers"][n])]
    assert differ == []
