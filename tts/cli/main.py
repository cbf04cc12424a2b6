"""The ``tts`` command line: parsing and printing only; the work lives in the package.

Errors a user can cause (``CodecError``) are printed as one line with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codec.cli.common import EXIT_ERROR
from codec.errors import CodecError
from tts.cli.units import add_parser as add_units_parser


def cmd_export(args: argparse.Namespace) -> int:
    from tts.pretrained import export_checkpoint

    folder = export_checkpoint(args.checkpoint, args.output, half=args.half)
    print(f"exported {args.checkpoint} to {folder}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from tts.pretrained import load_generator

    model, config = load_generator(args.model)
    info = {
        "generator": config["generator"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "symbols": config["n_symbols"],
        "frontend": config["frontend"],
        "codec": config["codec"],
        "trained_steps": config.get("trained_steps"),
        "objective": config.get("objective", "all"),
        "instructions": getattr(model, "instruction_encoder", None) is not None,
        "style_bins": config.get("style_bins"),
    }
    print(json.dumps(info, indent=2))
    return 0


def _write(path: Path, audio: object, rate: int) -> None:
    from codec.io.audio import write_audio

    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, audio.numpy(), rate)


def _read_lines(path: str) -> list[tuple[int, str]]:
    """Non-empty lines of a text file with their 1-based numbers."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CodecError(f"cannot read: {getattr(error, 'strerror', None) or error}", path) from None
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]


def _report_unknown(instructions: list[str], model: Any, text: str | None = None) -> None:
    """Verbose mode: the style words of each instruction, the words no phrasing uses and, for a
    model that reads levels, the levels it read."""
    from tts.instruct.instructions import known_words, parse_instruction

    try:
        read = model.read_styles(instructions, None if text is None else [text] * len(instructions))
    except CodecError:
        read = None  # an instruction without text: reported below, then refused by the synthesis
    for n, instruction in enumerate(instructions):
        try:
            style = parse_instruction(instruction, text).style
        except CodecError:
            style = instruction
        asked, unknown = known_words(style)
        described = ", ".join(f"{k}={v}" for k, v in asked.items()) or "none"
        line = f"style words: {described}; unknown: {', '.join(unknown) or 'none'}"
        if read is not None:
            line += "; the model reads: " + (", ".join(f"{k}={v}" for k, v in read[n].items()) or "nothing")
        print(line, file=sys.stderr)


def cmd_synthesize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tts.api import load_tts
    from tts.sampling import SamplingOptions

    sources = [args.text_file, args.instruct, args.instruct_file]
    if sum(x is not None for x in sources) > 1 and not (args.instruct and args.text is not None):
        raise CodecError("give one of TEXT, --text-file, --instruct (optionally with TEXT) or --instruct-file")
    if args.text is None and all(x is None for x in sources):
        raise CodecError("nothing to speak: give TEXT, --text-file, --instruct or --instruct-file")
    options = SamplingOptions(args.temperature, args.top_k, args.top_p, args.repetition_window)
    generate = {} if args.steps is None else {"steps": tuple(args.steps)}
    if args.guidance is not None:
        generate["guidance"] = args.guidance
    if args.instruction_guidance is not None:
        generate["instruction_guidance"] = args.instruction_guidance
    if args.semantic_guidance is not None:
        generate["semantic_guidance"] = args.semantic_guidance
    model = load_tts(args.model, codec=args.codec, device=args.device, precision=args.precision)
    common = {"prompt": args.prompt, "prompt_text": args.prompt_text, "seed": args.seed, "options": options}
    common["pitch_control"] = not args.no_pitch_control
    instructed = args.instruct is not None or args.instruct_file is not None
    if instructed and not model.follows_instructions:
        raise CodecError("this model reads no instructions (train one with --data.instructions true)", args.model)

    def speak(lines: list[str], text: str | None = None) -> list:
        if args.verbose and instructed:
            _report_unknown(lines, model, text)
        if instructed:
            return model.instruct(lines, None if text is None else [text], **common, **generate)
        return model.synthesize(lines, **common, **generate)

    if args.text_file is None and args.instruct_file is None:
        output = Path(args.output)
        if output.exists() and not args.overwrite:
            raise CodecError("exists; pass --overwrite to replace it", output)
        line = args.instruct if instructed else args.text
        audio = speak([line], args.text if instructed else None)[0]
        _write(output, audio, model.sample_rate)
        print(f"{output}: {audio.shape[-1] / model.sample_rate:.2f} s")
        return 0
    jobs = _read_lines(args.text_file or args.instruct_file)
    if args.instruct_file is not None:
        from tts.instruct.instructions import parse_instruction

        for n, line in jobs:  # every line checked before any audio is written
            try:
                parse_instruction(line)
            except CodecError as error:
                raise CodecError(f"line {n}: {error.reason}", args.instruct_file) from None
    folder = Path(args.output)
    todo = [(n, line) for n, line in jobs if args.overwrite or not (folder / f"line-{n:05d}.wav").exists()]
    for start in tqdm(range(0, len(todo), args.batch_size), desc="synthesize", unit="batch"):
        batch = todo[start : start + args.batch_size]
        clips = speak([line for _, line in batch])
        for (n, _), clip in zip(batch, clips, strict=True):
            _write(folder / f"line-{n:05d}.wav", clip, model.sample_rate)
    print(f"{len(todo)} synthesized, {len(jobs) - len(todo)} skipped (exist) into {folder}")
    return 0


def _expected_durations(pairs: Path) -> tuple[float, dict[str, float]]:
    """From one reading of the pairs: the mean phone duration of the training rows (0.08 s where
    none has durations) and the seconds of each text's first recording (the robustness sentences'
    references)."""
    total = count = 0.0
    seconds: dict[str, float] = {}
    for line in pairs.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("split") == "train" and row.get("durations"):
            total += sum(row["durations"])
            count += len(row["durations"])
        duration = row.get("duration") or sum(row.get("durations") or [])
        if row.get("text") and duration:
            seconds.setdefault(row["text"], float(duration))
    return (total / count if count else 0.08), seconds


def cmd_eval(args: argparse.Namespace) -> int:
    from tts.api import SYNTHESIS_DEFAULTS, load_tts
    from tts.evaluation import evaluate_pairs, evaluate_robustness

    model = load_tts(args.model, codec=args.codec, device=args.device, precision=args.precision)
    if args.instruct:
        return _eval_instructions(args, model)
    given = {"guidance": args.guidance, "steps": None if args.steps is None else tuple(args.steps)}
    given = {key: value for key, value in given.items() if value is not None}
    if given and model.kind != "nar":
        raise CodecError(f"--{next(iter(given))} is an option of nar models, not of {model.kind}", args.model)
    generate = {**SYNTHESIS_DEFAULTS.get(model.kind, {}), **given}  # what is used, reported
    pairs = Path(args.pairs)
    report = evaluate_pairs(model, pairs, args.split, args.limit, args.seed, not args.no_speaker_sim, generate)
    if args.robustness:
        seconds_per_phone, references = _expected_durations(pairs)
        report["robustness"] = evaluate_robustness(
            model, Path(args.robustness), seconds_per_phone, references=references, generate=generate
        )
    report["generate"], report["precision"] = generate, args.precision
    options = f", {args.precision}" * (args.precision != "float32") + "".join(
        f", {key} {' '.join(map(str, value)) if isinstance(value, tuple) else format(value, 'g')}"
        for key, value in generate.items()
    )
    print(f"{report['sentences']} {args.split} sentences{options}: WER and speaker similarity to the prompt")
    for name, row in report["systems"].items():
        similarity = "-" if row["speaker_similarity"] is None else f"{row['speaker_similarity']:.3f}"
        wer = "-" if row["wer"] is None else f"{row['wer']:.3f}"
        print(f"  {name:<12} WER {wer:>6}  SPK {similarity}")
    print(
        f"  model length / original: median {report['length_ratio_median']:.2f}, {report['too_short']} under half, "
        f"{report['too_long']} over twice; real-time factor {report['real_time_factor']:.3f}"
    )
    if "robustness" in report:
        r = report["robustness"]
        print(
            f"robustness: {r['sentences']} sentences, {r['too_short']} too short, {r['too_long']} too long, "
            f"{r['failed']} failed (expected durations: {r['from_reference']} from reference recordings, "
            f"the rest from the phone count)"
        )
        for name, row in sorted(r["categories"].items()):
            print(
                f"  {name:<14} {row['sentences']:>4}  short {row['too_short']}  long {row['too_long']}  "
                f"failed {row['failed']}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _eval_instructions(args: argparse.Namespace, model: object) -> int:
    from tts.api import INSTRUCTION_GUIDANCE
    from tts.instruct.bins import StyleBins
    from tts.instruct.evaluation import evaluate_instructions, report_lines

    # the second condition's scale: text for nar, semantic units for ar-semantic (VoxInstruct)
    name, scale = (
        ("semantic_guidance", args.semantic_guidance) if model.kind == "ar-semantic" else ("guidance", args.guidance)
    )
    defaults = INSTRUCTION_GUIDANCE[model.kind]
    scale = defaults[name] if scale is None else scale
    instruction = defaults["instruction_guidance"] if args.instruction_guidance is None else args.instruction_guidance
    pairs = [(scale, instruction)]
    if args.ablation:
        pairs = [(1.0, 1.0), (scale, 1.0), (1.0, instruction), (scale, instruction)]
    settings = [{name: a, "instruction_guidance": b, "pitch_control": not args.no_pitch_control} for a, b in pairs]
    bins = StyleBins.load(args.bins) if args.bins else None
    report = evaluate_instructions(
        model,
        Path(args.pairs),
        args.split,
        args.limit,
        args.contrasts,
        args.seed,
        settings,
        bins,
        args.prompt,
        args.draws,
    )
    print(f"{args.split}: " + "\n".join(report_lines(report, name)))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _add_precision(parser: argparse.ArgumentParser) -> None:
    """``--precision``: the names of ``tts.api.PRECISIONS`` (not imported here: the parser loads no torch)."""
    parser.add_argument(
        "--precision",
        default="float32",
        choices=["float32", "bfloat16"],
        help="the generator's arithmetic (default float32; bfloat16 is faster on CPUs with AVX-512 BF16 or AMX "
        "and on GPUs)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tts`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="tts",
        description="Token-based speech generation on the codec's tokens.",
        epilog="Run 'tts COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "train",
        add_help=False,
        help="train a generator with a YAML recipe (LightningCLI; 'tts train --help')",
        description="LightningCLI: tts train fit --config recipes/tts/X.yaml --data.pairs P --data.tokens T",
    )
    export = commands.add_parser("export", help="write a TTS model folder from a 'tts train' checkpoint")
    export.add_argument("checkpoint", help="a .ckpt written by 'tts train'")
    export.add_argument("-o", "--output", required=True, help="output folder")
    export.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    export.set_defaults(run=cmd_export)
    synth = commands.add_parser(
        "synthesize",
        help="text -> speech",
        description="Speak TEXT into -o FILE, or each line of --text-file into -o FOLDER/line-NNNNN.wav (batched, "
        "restartable: existing outputs are skipped unless --overwrite). Instruction models also take "
        "--instruct 'A woman speaks slowly: \"Hello.\"' (the double-quoted part is spoken; or give TEXT "
        "beside it) and --instruct-file (one instruction per line).",
    )
    synth.add_argument("text", nargs="?", help="the text to speak")
    synth.add_argument("--text-file", help="a file with one text per line")
    synth.add_argument("--instruct", help="a style instruction with the text to speak in double quotes")
    synth.add_argument("--instruct-file", help="a file with one instruction per line")
    synth.add_argument("-o", "--output", required=True, help="output audio file (or folder with --text-file)")
    synth.add_argument(
        "--model", default="default", help="a shipped model name or a model folder ('tts export'; default: default)"
    )
    synth.add_argument("--codec", help="the tokenizer (default: the one named in the model, if installed)")
    synth.add_argument("--prompt", help="a voice prompt (audio file; its first 3 s are used)")
    synth.add_argument("--prompt-text", help="the prompt's transcript (needed by ar models)")
    synth.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    synth.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    synth.add_argument("--top-k", type=int, default=None, help="keep the k most likely tokens")
    synth.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold")
    synth.add_argument("--repetition-window", type=int, default=0, help="repetition-aware sampling window (ar)")
    synth.add_argument("--steps", type=int, nargs="+", help="nar: decoding steps per codebook level")
    synth.add_argument("--guidance", type=float, help="nar: guidance scale of the text (default 1.5)")
    synth.add_argument(
        "--instruction-guidance",
        type=float,
        help="instruction models: guidance scale of the instruction (default 3 with --instruct, else 1)",
    )
    synth.add_argument(
        "--semantic-guidance",
        type=float,
        help="ar-semantic: guidance scale of the semantic units (default 1.5 with --instruct, else 1)",
    )
    synth.add_argument(
        "--no-pitch-control",
        action="store_true",
        help="instruction models: keep the generator's pitch where it misses the level asked (by default such "
        "speech is decoded again with its pitch moved into the level's range)",
    )
    synth.add_argument("-v", "--verbose", action="store_true", help="print the style words read from instructions")
    synth.add_argument("--batch-size", type=int, default=16, help="lines per batch with --text-file (default 16)")
    synth.add_argument("--device", default="cpu", help="torch device (default cpu)")
    _add_precision(synth)
    synth.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    synth.set_defaults(run=cmd_synthesize)
    evaluate = commands.add_parser(
        "eval",
        help="WER, speaker similarity, lengths and speed beside the tokenizer's ceiling",
        description="Score the originals, the tokenizer's resynthesis (the ceiling) and the model on held-out "
        "pairs (Whisper tiny.en WER, speaker similarity to the prompt, length ratios, real-time factor); "
        "with --robustness, count outputs under half or over twice the expected duration. Needs the "
        "[eval-extra] extra.",
    )
    evaluate.add_argument(
        "--model", default="default", help="a shipped model name or a model folder (default: default)"
    )
    evaluate.add_argument("--codec", help="the tokenizer (default: the one named in the model, if installed)")
    evaluate.add_argument("--pairs", required=True, help="pairs.jsonl with text, audio, speaker and split")
    evaluate.add_argument("--split", default="test", help="held-out split (default test)")
    evaluate.add_argument("--limit", type=int, default=64, help="sentences, spread over the split (default 64)")
    evaluate.add_argument("--robustness", help="a file of sentences, one per line")
    evaluate.add_argument("--no-speaker-sim", action="store_true", help="skip speaker similarity")
    evaluate.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    evaluate.add_argument("--device", default="cpu", help="torch device (default cpu)")
    _add_precision(evaluate)
    evaluate.add_argument("--json", help="also write the report as JSON")
    evaluate.add_argument(
        "--instruct",
        action="store_true",
        help="score instruction following (per attribute, contrast pairs, WER) on the pairs of egs/instruct16k",
    )
    evaluate.add_argument("--guidance", type=float, help="nar: text guidance scale (default 1.5)")
    evaluate.add_argument("--steps", type=int, nargs="+", help="nar: decoding steps per codebook level")
    evaluate.add_argument(
        "--instruction-guidance", type=float, help="--instruct: instruction guidance scale (default 3)"
    )
    evaluate.add_argument(
        "--semantic-guidance", type=float, help="--instruct, ar-semantic: semantic guidance (default 1.5)"
    )
    evaluate.add_argument(
        "--no-pitch-control", action="store_true", help="--instruct: score the generator's own pitch (no decoder move)"
    )
    evaluate.add_argument(
        "--ablation", action="store_true", help="--instruct: also score without guidance and with each scale alone"
    )
    evaluate.add_argument("--contrasts", type=int, default=16, help="--instruct: sentences of contrast pairs")
    evaluate.add_argument(
        "--draws",
        type=int,
        default=1,
        help="--instruct: speak every request this many times with other sampling seeds and pool the scores "
        "(one draw's accuracy spreads by about 0.1 either way)",
    )
    evaluate.add_argument("--bins", help="--instruct: style_bins.json (default: the bins stored with the model)")
    evaluate.add_argument(
        "--prompt", help="--instruct: a voice prompt for every clip (the voice from it, the style from the instruction)"
    )
    evaluate.set_defaults(run=cmd_eval)
    add_units_parser(commands)
    info = commands.add_parser("info", help="describe a TTS model (shipped name or folder)")
    info.add_argument(
        "model", nargs="?", default="default", help="a shipped model name or a model folder (default: default)"
    )
    info.set_defaults(run=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tts`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] == "train":
            from tts.training.cli import run_training

            run_training(args_list[1:])
            return 0
        args = build_parser().parse_args(args_list)
        return args.run(args)
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
