"""The ``sparring`` command line: play, show, replay, arenas, check, tasks, train, export, view, tournament,
ratings, rescore, eval, whatif.

Errors: a mistake in the input (a bad flag value, an unknown arena, a missing folder, a
recipe field) is printed as one line, ``error: ...``, and exits 2; so is a crash in the
user's own code (a reward, a monitor), followed by the user's frames
(:mod:`sparring.user_errors`). Anything else is a
bug in sparring or a library under it: its type, the line that raised it and a hint to
rerun with ``--debug`` (or ``SPARRING_DEBUG=1``), which prints the full traceback; it
exits 1. An input mistake is one of the error classes raised for users (``RecipeError``,
``ArenaError``, ``ConformanceError``, the file errors), or a ``ValueError``,
``LookupError``, ``TypeError`` or ``RuntimeError`` raised by a ``raise`` statement in
sparring's own code (its validation and "install X" messages). The same classes raised
inside torch or transformers, or by a failing built-in call in our code (``int("x")``,
``d[missing]``), are bugs.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

from sparring.commands import (
    cmd_arenas,
    cmd_check,
    cmd_eval,
    cmd_export,
    cmd_play,
    cmd_ratings,
    cmd_replay,
    cmd_rescore,
    cmd_show,
    cmd_tasks,
    cmd_tournament,
    cmd_train,
    cmd_view,
    debug_requested,
)
from sparring.commands_whatif import add_whatif
from sparring.shadow import shadow_warning
from sparring.user_errors import report_user_crash

_SOURCE_ROOT = Path(__file__).resolve().parents[1]
_PACKAGE_DIRS = ("agents", "arenas", "rewards", "runs", "sparring")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays behind ``--help``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _add_ray(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="play the matches on Ray worker actors, each with its own copy of the model; ADDRESS "
                        "of a running cluster (auto, HOST:PORT), else a local Ray instance is started "
                        "(needs pip install 'sparring[ray]')")
    p.add_argument("--ray-workers", type=int, default=None, metavar="N", help="Ray worker actors (default 2)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sparring`` command."""
    parser = _Parser(prog="sparring", description="Multi-agent self-play with language models.")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="print the full traceback of any error (also SPARRING_DEBUG=1)")
    # ``--debug`` is accepted after the command too; SUPPRESS keeps a top-level one from being reset.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)

    p = add("play", help="play matches of an arena and store them in a run directory")
    p.add_argument("arena", help="arena id, short name (qa-verify), file.py:Class or module:Class")
    p.add_argument("--matches", "-n", type=int, default=32, help="matches to play (default 32)")
    p.add_argument("--out", "-o", required=True, help="run directory to write")
    p.add_argument("--model", default="default", help="base model: default (embedded SmolLM2-135M-Instruct), tiny, or a local folder")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="auto, fp32 or bf16 (auto: bf16 only where the CPU has native bf16)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32, help="most rows per forward batch (default 32)")
    p.add_argument("--max-in-flight", type=int, default=64, help="most matches alive at once (default 64)")
    p.add_argument("--arena-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="arena constructor argument, VALUE read as TOML (else a string): "
                        "group_size=8 or 'ops=[\"*\"]' (repeatable)")
    p.add_argument("--role", action="append", default=[], metavar="SEAT.FIELD=VALUE",
                   help="seat override, VALUE read as TOML; fields: adapter, temperature, top_p, "
                        "max_new_tokens, stop; e.g. solver.temperature=1.0 or judge.adapter=judge (repeatable)")
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH",
                   help="load a saved peft adapter folder (e.g. RUN/adapters/judge/v3) as adapter NAME; "
                        "play a seat on it with --role SEAT.adapter=NAME (repeatable)")
    p.add_argument("--engine", default="hf", choices=["hf", "vllm", "openai"],
                   help="what generates (a recipe's model.engine): hf (default, in this process), vllm (a "
                        "vLLM server started and stopped with the play) or openai (an OpenAI-compatible "
                        "server; frozen seats, no adapters)")
    p.add_argument("--server", action="append", default=[], metavar="KEY=VALUE",
                   help="engine setting (a recipe's [model.server] field), VALUE read as TOML: openai needs "
                        "base_url=http://127.0.0.1:8000/v1 and model=NAME; also api_key_env, concurrency, "
                        "timeout, retries (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_ray(p)
    p.set_defaults(fn=cmd_play)

    s = add("show", help="render stored transcripts in the terminal")
    s.add_argument("dir")
    s.add_argument("--match", "-m", action="append", help="match id (repeatable)")
    s.add_argument("--role", "-r", help="only this role's turns")
    s.add_argument("--status", help="only matches with this status (finished, error)")
    s.add_argument("--limit", type=int, default=50, help="most matches listed (default 50)")
    s.add_argument("--full", action="store_true", help="do not clip long prompts and replies")
    s.set_defaults(fn=cmd_show)

    r = add("replay", help="re-run stored matches on their recorded replies and diff")
    r.add_argument("dir")
    r.add_argument("--match", "-m", action="append", help="match id (repeatable); default: the first")
    r.add_argument("--all", action="store_true", help="replay every stored match")
    r.set_defaults(fn=cmd_replay)

    t = add("train", help="self-play training from a recipe (resumable)")
    t.add_argument("recipe", nargs="?", help="recipe .toml (or a name in recipes/)")
    t.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="dotted overrides, e.g. train.lr=1e-4 roles.solver.adapter=shared")
    t.add_argument("--out", "-o", help="run directory to create")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last completed iteration")
    _add_ray(t)
    t.set_defaults(fn=cmd_train)

    e = add("export", help="write stored transcripts as a TRL dataset (dpo, grpo or sft) or one match as html")
    e.add_argument("dir", help="run directory")
    e.add_argument("--format", "-f", required=True, choices=["dpo", "grpo", "sft", "html"])
    e.add_argument("--to", "-o", required=True, help="output file: .jsonl or .parquet (html: .html)")
    e.add_argument("--match", "-m", help="html: the match to write as one self-contained page")
    e.add_argument("--role", "-r", help="only this seat (default: every seat with rewards)")
    e.add_argument("--reward", help="reward to score by (default: the seat's first per-turn reward)")
    e.add_argument("--builder", default="best_worst", choices=["best_worst", "margin"], help="dpo pairs (default best_worst)")
    e.add_argument("--margin", type=float, default=0.5, help="smallest reward gap of a margin pair (default 0.5)")
    e.add_argument("--min-reward", type=float, default=1.0, help="smallest reward of an sft sample (default 1.0)")
    e.add_argument("--iteration", type=int, help="only matches of this iteration")
    e.set_defaults(fn=cmd_export)

    v = add("view", help="browse run directories in a local web page (matches, transcripts, charts, ratings)")
    v.add_argument("dir", nargs="+", help="run, tournament or league directories (each holds store.sqlite)")
    v.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --allow-remote)")
    v.add_argument("--allow-remote", action="store_true",
                   help="allow --host other than 127.0.0.1 (anyone who reaches it can read every transcript)")
    v.set_defaults(fn=cmd_view)

    tn = add("tournament", help="play a tournament between players (adapter versions, base, scripted); resumable")
    tn.add_argument("config", help="tournament .toml (players, arena and competing seats, schedule)")
    tn.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="dotted overrides, e.g. schedule.budget=40")
    tn.add_argument("--out", "-o", required=True, help="run directory (run again to continue it)")
    tn.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_ray(tn)
    tn.set_defaults(fn=cmd_tournament)

    rt = add("ratings", help="rate the players of a tournament: BT with bootstrap CIs, Elo, openskill, cycles, plots")
    rt.add_argument("dir", help="tournament run directory")
    rt.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    rt.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    rt.add_argument("--no-plots", action="store_true", help="write ratings.json only")
    rt.set_defaults(fn=cmd_ratings)

    rs = add("rescore", help="recompute a reward or metric on stored transcripts, without generating")
    rs.add_argument("dir", help="run directory")
    rs.add_argument("--reward", help="a reward of the run's arenas, or file.py:function / module:attr; "
                                     "written beside the stored rewards")
    rs.add_argument("--metric", help="a metric of the run's arenas, a measurement (diversity, entropy, "
                                     "consistency/<reward>, calibration/<conf>/<correct>) or file.py:name")
    rs.set_defaults(fn=cmd_rescore)

    ev = add("eval", help="evaluate the base model or a saved adapter on a task family's test items; "
                          "--against compares two on the same items (paired)")
    ev.add_argument("target", help="base, a run directory (its best, else newest adapter) or an adapter "
                                   "folder such as RUN/adapters/solver/v3")
    ev.add_argument("--against", metavar="TARGET", help="a second target, compared on the same items")
    ev.add_argument("--family", required=True, help="task family: name, .jsonl path or file.py:attr")
    ev.add_argument("--split", default="test", help="test (default) or validation")
    ev.add_argument("--difficulty", default="1", help="a difficulty or LOW,HIGH (default 1)")
    ev.add_argument("--size", type=int, default=500, help="distinct items (default 500)")
    ev.add_argument("--k", type=int, default=1, help="samples per item: pass@k and sampled accuracy (default 1: greedy)")
    ev.add_argument("--temperature", type=float, help="sampling temperature (default 0 for k=1, 0.7 otherwise)")
    ev.add_argument("--max-new-tokens", type=int, help="generation cap (default: the task-eval solver's)")
    ev.add_argument("--model", help="base model (default: the targets' run's, else the embedded default)")
    ev.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"])
    ev.add_argument("--batch-size", type=int, default=32, help="most rows per forward batch (default 32)")
    ev.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE ('-': stdout only)")
    ev.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    ev.set_defaults(fn=cmd_eval)

    a = add("arenas", help="list registered arenas")
    a.set_defaults(fn=cmd_arenas)

    c = add("check", help="run the arena conformance check (all built-ins by default)")
    c.add_argument("arena", nargs="*", help="arena id, short name, file.py:Class or module:Class")
    c.add_argument("--arena-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="arena constructor argument, VALUE read as TOML (repeatable)")
    c.set_defaults(fn=cmd_check)

    ts = add("tasks", help="count each task family's distinct items per split (train, validation, test) "
                           "at each difficulty")
    ts.add_argument("family", nargs="*", help="family name, .jsonl path or file.py:attr (default: every "
                                              "registered family)")
    ts.add_argument("--draws", type=int, default=20_000, help="items drawn per difficulty (default 20000)")
    ts.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ts.set_defaults(fn=cmd_tasks)
    add_whatif(add)
    return parser


_INTERRUPTED = {
    "play": "interrupted; run the same command again to finish; stored matches are kept",
    "train": "interrupted; continue from the last completed iteration with 'sparring train --resume {out}'",
    "tournament": "interrupted; run the same command again to continue; stored matches are kept",
    "whatif": "interrupted; run the same command again to finish; stored branches are kept",
}


def _ours(filename: str) -> str | None:
    """``filename`` relative to the source root if it is sparring's own code, else ``None``."""
    try:
        relative = Path(filename).resolve().relative_to(_SOURCE_ROOT)
    except ValueError:
        return None
    return str(relative) if relative.parts[0] in _PACKAGE_DIRS else None


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` reports a mistake in the input (one line) rather than a bug (see module docs)."""
    from sparring.agents.conformance import ConformanceError
    from sparring.agents.errors import InternalError
    from sparring.arenas.errors import ArenaError
    from sparring.runs.recipes.recipe import RecipeError

    if isinstance(exc, (RecipeError, ArenaError, ConformanceError, FileNotFoundError, FileExistsError,
                        NotADirectoryError, IsADirectoryError)):
        return True
    if isinstance(exc, InternalError) or not isinstance(exc, (ValueError, LookupError, TypeError, RuntimeError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    return _ours(last.filename) is not None and (last.line or "").lstrip().startswith("raise")


def _where(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return []
    last = frames[-1]
    lines = [f"raised at {_ours(last.filename) or last.filename}:{last.lineno} in {last.name}"]
    if _ours(last.filename) is None:
        mine = [f for f in frames if _ours(f.filename)]
        if mine:
            lines.append(f"called from {_ours(mine[-1].filename)}:{mine[-1].lineno} in {mine[-1].name}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparring`` command.

    Exit codes: 0 done, 1 a bug (or matches that errored, or a failed check), 2 a mistake
    in the input, 130 interrupted.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse does not take positionals after an option (``train R.toml --out D lr=1``):
    # FIELD=VALUE overrides given after the options are overrides all the same
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*(args.overrides or []), *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    debug = args.debug or debug_requested()
    console = Console(soft_wrap=True)  # an error is one line, whatever the terminal width
    if (shadowed := shadow_warning()) is not None:
        Console(stderr=True, soft_wrap=True).print(f"[yellow]{escape(shadowed)}[/]")
    try:
        return args.fn(args, console)
    except KeyboardInterrupt:
        out = getattr(args, "resume", None) or getattr(args, "out", None) or "DIR"
        console.print(f"[yellow]{escape(_INTERRUPTED.get(args.command, 'interrupted').format(out=out))}[/]")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every error is reported
        crashed = report_user_crash(exc, args, console, debug=debug)  # the user's arena, parser, reward...
        if crashed is not None:
            return crashed
        if debug:
            traceback.print_exception(exc)
        if is_user_error(exc):
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            console.print(f"[red]error:[/] {escape(str(message))}")
            return 2
        console.print(f"[red]bug:[/] {escape(f'{type(exc).__name__}: {exc}')}")
        for line in _where(exc):
            console.print(f"  {escape(line)}")
        if not debug:
            console.print("  this is a bug in sparring (or a library under it), not in your input; "
                          "rerun with --debug (or SPARRING_DEBUG=1) for the full traceback")
        return 1


if __name__ == "__main__":
    sys.exit(main())
