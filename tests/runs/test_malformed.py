"""A new user's malformed recipes, overrides and paths, each through the real CLI.

Every row must exit with the input-mistake code (2) and one line that names the field and
the offending value, write nothing (the files of the test's folder are unchanged and
``--out`` is not created), and fail before any model loads: ``load_base`` is replaced by
a tripwire, so reaching it is a ``bug:`` exit (1) and fails the row.

Rows cover every field of every recipe section, every constructor argument of the
built-in arenas (qa-verify, qa-eval) and of the README's examples (letter_count.py,
debate.py), override syntax, paths, and ``sparring play``'s flags. The one skip: the
``cuda`` rows check the error on a machine without CUDA, so they skip where CUDA exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sparring.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = 'model.source="tiny"'


@dataclass(frozen=True)
class Case:
    """One malformed input: CLI arguments (with ``{TMP}``, ``{OUT}``, ``{ROOT}``
    placeholders) and the texts the one-line error must contain."""

    argv: tuple[str, ...]
    expect: tuple[str, ...]


def train(*overrides: str, expect: tuple[str, ...], recipe: str = "{ROOT}/recipes/tiny_smoke.toml") -> Case:
    """``sparring train RECIPE OVERRIDES --out OUT`` (the tiny-model smoke recipe by default)."""
    return Case(("train", recipe, *overrides, "--out", "{OUT}"), expect)


def letters(*overrides: str, expect: tuple[str, ...]) -> Case:
    """README's LetterCount arena (seat ``counter``, GRPO)."""
    return train(*overrides, expect=expect, recipe="{TMP}/letters.toml")


def debate(*overrides: str, expect: tuple[str, ...]) -> Case:
    """examples/debate.toml (seats pro, con, judge; the judge trains) on the tiny model."""
    return train(TINY, *overrides, expect=expect, recipe="{ROOT}/examples/debate.toml")


def qa_eval(*overrides: str, expect: tuple[str, ...]) -> Case:
    """qa-eval as the training arena (seats solver, verifier)."""
    return train(*overrides, expect=expect, recipe="{TMP}/qa_eval.toml")


def play(*args: str, expect: tuple[str, ...]) -> Case:
    """``sparring play ARGS --out OUT -q``."""
    return Case(("play", *args, "--out", "{OUT}", "-q"), expect)


CASES: list[Case] = [
    # -- [model] ------------------------------------------------------------------------
    train('model.source="/no/such/model"', expect=("model.source", '"/no/such/model"', "no such folder")),
    train('model.source="HuggingFaceTB/SmolLM2-135M"', expect=("model.source", '"HuggingFaceTB/SmolLM2-135M"', "hub id")),
    train('model.source="tiny:x"', expect=("model.source", '"tiny:x"')),
    train('model.source="tiny:"', expect=("model.source", '"tiny:"')),
    train("model.source=5", expect=("model.source", "= 5")),
    train('model.source="{TMP}/empty_dir"', expect=("model.source", "empty_dir", "no config.json")),
    train('model.source="{TMP}/config_only"', expect=("model.source", "config_only", "no weights")),
    train('model.source="{TMP}/notes.txt"', expect=("model.source", "notes.txt", "a file")),
    train('model.dtype="fp16"', expect=("model.dtype", '"fp16"')),
    train("model.dtype=32", expect=("model.dtype", "= 32")),
    train('model.device="cuda"', expect=("model.device", '"cuda"', "no CUDA")),
    train('model.device="gpu"', expect=("model.device", '"gpu"')),
    train("model.batch_size=0", expect=("model.batch_size", "= 0")),
    train("model.batch_size=true", expect=("model.batch_size", "= true")),
    train('model.batch_size="8"', expect=("model.batch_size", '"8"')),
    train("model.threads=2", expect=("model.threads", "unknown field")),
    train("model=5", expect=("'model'", "= 5", "is a section")),
    # -- [arena] ------------------------------------------------------------------------
    train('arena.name="nope-arena"', expect=("arena.name", '"nope-arena"', "unknown arena")),
    train('arena.name="{TMP}/missing.py:X"', expect=("arena.name", "missing.py:X", "does not exist")),
    train('arena.name="{ROOT}/examples/letter_count.py:Nope"', expect=("arena.name", "letter_count.py:Nope")),
    train('arena.name="{TMP}/broken.py:X"', expect=("arena.name", "broken.py:X")),
    train('arena.name="{TMP}/not_arena.py:NotArena"', expect=("arena.name", "not_arena.py:NotArena", "not an Arena")),
    train('arena.name="os.path:join"', expect=("arena.name", '"os.path:join"', "not an Arena")),
    train('arena.name="no_such_module_xyz:Arena"', expect=("arena.name", '"no_such_module_xyz:Arena"')),
    train("arena.name=5", expect=("arena.name", "= 5")),
    train("arena.kwargs=5", expect=("arena.kwargs", "= 5")),
    train("arena.rounds=3", expect=("arena.rounds", "unknown field")),
    train("arena=[1]", expect=("'arena'", "[1]")),
    # qa-verify: digits, ops, group_size, retries
    train('arena.kwargs.digits="abc"', expect=("arena.kwargs.digits", '"abc"', "expected an integer")),
    train("arena.kwargs.digits=true", expect=("arena.kwargs.digits", "= true", "expected an integer")),
    train("arena.kwargs.digits=2.5", expect=("arena.kwargs.digits", "= 2.5")),
    train("arena.kwargs.digits=0", expect=("arena.kwargs.digits", "= 0", "digits must be in 1..6")),
    train("arena.kwargs.digits=9", expect=("arena.kwargs.digits", "= 9", "digits must be in 1..6")),
    train('arena.kwargs.ops="+"', expect=("arena.kwargs.ops", '"+"', "expected a list of strings")),
    train('arena.kwargs.ops=["/"]', expect=("arena.kwargs.ops", '["/"]')),
    train("arena.kwargs.ops=[]", expect=("arena.kwargs.ops", "= []")),
    train("arena.kwargs.ops=[1]", expect=("arena.kwargs.ops", "= [1]")),
    train("arena.kwargs.group_size=0", expect=("arena.kwargs.group_size", "= 0")),
    train("arena.kwargs.group_size=100", expect=("arena.kwargs.group_size", "= 100")),
    train('arena.kwargs.group_size="4"', expect=("arena.kwargs.group_size", '"4"')),
    train("arena.kwargs.group_size=true", expect=("arena.kwargs.group_size", "= true")),
    train('arena.kwargs.retries="1"', expect=("arena.kwargs.retries", '"1"')),
    train("arena.kwargs.retries=1.5", expect=("arena.kwargs.retries", "= 1.5")),
    train("arena.kwargs.retries=-1", expect=("arena.kwargs.retries", "= -1")),
    train("arena.kwargs.size=3", expect=("arena.kwargs.size", "no argument 'size'")),
    # qa-eval: digits, ops (as the held-out arena and as the training arena)
    train('eval.arena="qa-eval"', 'eval.kwargs.digits="two"', expect=("eval.kwargs.digits", '"two"')),
    train('eval.arena="qa-eval"', "eval.kwargs.digits=0", expect=("eval.kwargs.digits", "= 0")),
    train('eval.arena="qa-eval"', "eval.kwargs.digits=true", expect=("eval.kwargs.digits", "= true")),
    train('eval.arena="qa-eval"', 'eval.kwargs.ops="*"', expect=("eval.kwargs.ops", '"*"')),
    train('eval.arena="qa-eval"', 'eval.kwargs.ops=["%"]', expect=("eval.kwargs.ops", '["%"]')),
    train('eval.arena="qa-eval"', "eval.kwargs.group_size=2", expect=("eval.kwargs.group_size", "no argument")),
    qa_eval(expect=("roles.solver.reward", "declares no default reward")),
    qa_eval("arena.kwargs.digits=7", expect=("arena.kwargs.digits", "= 7")),
    qa_eval("arena.kwargs.ops=[true]", expect=("arena.kwargs.ops", "[true]")),
    # examples/letter_count.py: words (unannotated: its default says a list of strings)
    letters("arena.kwargs.words=5", expect=("arena.kwargs.words", "= 5", "expected a list of strings")),
    letters('arena.kwargs.words="banana"', expect=("arena.kwargs.words", '"banana"')),
    letters("arena.kwargs.words=[1, 2]", expect=("arena.kwargs.words", "[1, 2]")),
    letters("arena.kwargs.words=[]", expect=("arena.kwargs.words", "= []", "every probe match")),
    letters('arena.kwargs.words=[""]', expect=("arena.kwargs.words", '[""]', "every probe match")),
    letters("arena.kwargs.letters=1", expect=("arena.kwargs.letters", "no argument")),
    letters('roles.counter.update="spin"', expect=("roles.counter.update", "ground-truth replies")),
    letters('roles.counter.update="sft"', 'roles.counter.targets="reference"',
            expect=("roles.counter", "ground-truth replies")),
    letters('roles.counter.reward="nope"', expect=("roles.counter.reward", "'nope'")),
    letters("roles.countr.temperature=0.5", expect=("roles.countr", "not a seat")),
    # examples/debate.py: digits
    debate('arena.kwargs.digits="one"', expect=("arena.kwargs.digits", '"one"')),
    debate("arena.kwargs.digits=true", expect=("arena.kwargs.digits", "= true")),
    debate("arena.kwargs.digits=1.5", expect=("arena.kwargs.digits", "= 1.5")),
    debate("arena.kwargs.digits=-1", expect=("arena.kwargs.digits", "= -1", "every probe match")),
    debate("arena.kwargs.turns=3", expect=("arena.kwargs.turns", "no argument")),
    debate('roles.judge.update="spin"', expect=("roles.judge.update", "ground-truth replies")),
    debate('roles.judge.reward="debate_win"', expect=("roles.judge.reward", '"debate_win"', "never judge")),
    debate('roles.pro.adapter="pro"', 'roles.pro.update="grpo"', 'roles.pro.reward="judge_correct"',
           expect=("roles.pro.reward", '"judge_correct"', "never pro")),
    debate('eval.arena="{ROOT}/examples/letter_count.py:LetterCount"',
           expect=("eval.arena", "LetterCount", "none of the trained roles")),
    # -- [adapters.<name>] ---------------------------------------------------------------
    train("adapters.solver.rank=0", expect=("adapters.solver.rank", "= 0")),
    train('adapters.solver.rank="8"', expect=("adapters.solver.rank", '"8"')),
    train("adapters.solver.rank=1.5", expect=("adapters.solver.rank", "= 1.5")),
    train("adapters.solver.alpha=0", expect=("adapters.solver.alpha", "= 0")),
    train("adapters.solver.alpha=true", expect=("adapters.solver.alpha", "= true")),
    train("adapters.solver.target_modules=5", expect=("adapters.solver.target_modules", "= 5")),
    train("adapters.solver.target_modules=[]", expect=("adapters.solver.target_modules", "= []")),
    train('adapters.solver.target_modules=[""]', expect=("adapters.solver.target_modules", '[""]')),
    train('adapters.solver.target_modules=["q_prj"]', expect=("adapters.solver.target_modules", '["q_prj"]', "no module")),
    train('adapters.solver.target_modules="q_proj"', expect=("adapters.solver.target_modules", '"q_proj"')),
    train('adapters.solver.target_modules="(("', expect=("adapters.solver.target_modules", '"(("')),
    train('adapters.solver.init_from="{TMP}/nowhere"', expect=("adapters.solver.init_from", "nowhere")),
    train('adapters.solver.init_from="{TMP}/empty_dir"', expect=("adapters.solver.init_from", "empty_dir")),
    train('adapters.solver.init_from="{TMP}/adapter_r4"', expect=("adapters.solver.init_from", "adapter_r4", "rank 4")),
    train('adapters.solver.init_from="{TMP}/adapter_no_weights"',
          expect=("adapters.solver.init_from", "adapter_no_weights", "no weights")),
    train('adapters.solver.init_from="{TMP}/adapter_qv"', 'adapters.solver.target_modules=["q_proj"]',
          expect=("adapters.solver.init_from", "adapter_qv", "targets q_proj, v_proj")),
    train("adapters.solver.init_from=5", expect=("adapters.solver.init_from", "= 5")),
    train("adapters.solver.dropout=0.1", expect=("adapters.solver.dropout", "unknown field")),
    train("adapters.solvr.rank=4", expect=("adapters.solvr", "no seat plays on adapter 'solvr'")),
    train("adapters.solver=5", expect=("adapters.solver", "= 5")),
    train('adapters.solver.rank=4', 'adapters="lora"', expect=("'adapters'", '"lora"')),
    # -- [roles.<seat>] ------------------------------------------------------------------
    train("roles.nobody.temperature=1.0", expect=("roles.nobody", "not a seat")),
    train('roles.solver.adapter="a/b"', expect=("roles.solver.adapter", '"a/b"')),
    train('roles.solver.adapter=".."', expect=("roles.solver.adapter", '".."')),
    train('roles.solver.adapter=""', expect=("roles.solver.adapter", '""')),
    train('roles.solver.adapter="solver@v1"', expect=("roles.solver.adapter", '"solver@v1"')),
    train("roles.solver.adapter=5", expect=("roles.solver.adapter", "= 5")),
    train('roles.solver.update="dpoo"', expect=("roles.solver.update", '"dpoo"', "unknown update")),
    train("roles.solver.update=5", expect=("roles.solver.update", "= 5")),
    train('roles.verifier.update="grpo"', "schedule=[]", expect=("roles.verifier", '"grpo"', "needs an adapter")),
    train('roles.verifier.adapter="v"', 'roles.verifier.update="grpo"',
          expect=("roles.verifier.update", '"grpo"', "never runs")),
    train('roles.verifier.adapter="v"', 'roles.verifier.update="spin"', "schedule=[]",
          expect=("roles.verifier.update", '"spin"', "ground-truth replies")),
    train('roles.questioner.update="sft"', 'roles.questioner.targets="reference"', "schedule=[]",
          expect=("roles.questioner.targets", '"reference"', "ground-truth replies")),
    train('roles.verifier.adapter="v"', 'roles.verifier.update="grpo"', 'roles.verifier.reward="solver_truth"',
          "schedule=[]", expect=("roles.verifier.reward", '"solver_truth"', "never verifier")),
    train('roles.verifier.reward="verifier_truth"', expect=("roles.verifier", '"verifier_truth"', "no effect")),
    train('roles.solver.update="dpo"', 'roles.solver.adapter="questioner"',
          expect=("roles.questioner.update", "roles.solver", "'dpo'", "share adapter 'questioner'")),
    train("roles.solver.temperature=-1", expect=("roles.solver.temperature", "= -1")),
    train('roles.solver.temperature="hot"', expect=("roles.solver.temperature", '"hot"')),
    train("roles.solver.temperature=true", expect=("roles.solver.temperature", "= true")),
    train("roles.solver.temperature=inf", expect=("roles.solver.temperature", "= inf")),
    train("roles.solver.top_p=0", expect=("roles.solver.top_p", "= 0")),
    train("roles.solver.top_p=1.5", expect=("roles.solver.top_p", "= 1.5")),
    train("roles.solver.max_new_tokens=0", expect=("roles.solver.max_new_tokens", "= 0")),
    train("roles.solver.max_new_tokens=1.5", expect=("roles.solver.max_new_tokens", "= 1.5")),
    train('roles.solver.reward="nope"', expect=("roles.solver.reward", "'nope'", "not a reward")),
    train("roles.solver.reward=1", expect=("roles.solver.reward", "= 1")),
    train('roles.solver.targets="gold"', expect=("roles.solver.targets", '"gold"')),
    train('roles.solver.targets="reference"', expect=("roles.solver", '"reference"', "only by update")),
    train("roles.solver.stop=[]", expect=("roles.solver.stop", "unknown field")),
    train("roles.solver=5", expect=("roles.solver", "= 5")),
    # -- [[schedule]] --------------------------------------------------------------------
    train("schedule=5", expect=("schedule", "= 5")),
    train('schedule=[{roles=["verifier"]}]', expect=("schedule[0].roles", '["verifier"]', "has no update")),
    train('schedule=[{roles="solver"}]', expect=("schedule[0].roles", '"solver"')),
    train('schedule=[{roles=["solver", "questioner"], iterations=0}]', expect=("schedule[0].iterations", "= 0")),
    train('schedule=[{roles=["solver", "questioner"], iterations=true}]', expect=("schedule[0].iterations", "= true")),
    train('schedule=[{roles=["solver", "questioner"], every=2}]', expect=("schedule[0].every", "unknown field")),
    train("schedule=[{iterations=2}]", expect=("schedule[0].roles", "is required")),
    train('schedule=[{roles=["solver"]}]', expect=("roles.questioner.update", "never runs")),
    train('schedule.roles=["solver"]', expect=("schedule.roles", "'schedule' is a list")),
    # -- [train] -------------------------------------------------------------------------
    train("train.iterations=0", expect=("train.iterations", "= 0")),
    train("train.iterations=true", expect=("train.iterations", "= true")),
    train("train.matches_per_iteration=0", expect=("train.matches_per_iteration", "= 0")),
    train("train.matches_per_iteration=2.5", expect=("train.matches_per_iteration", "= 2.5")),
    train('train.seed="abc"', expect=("train.seed", '"abc"')),
    train("train.seed=1.5", expect=("train.seed", "= 1.5")),
    train("train.lr=0", expect=("train.lr", "= 0")),
    train("train.lr=true", expect=("train.lr", "= true")),
    train('train.lr="fast"', expect=("train.lr", '"fast"')),
    train("train.lr=1e-4x", expect=("train.lr", '"1e-4x"')),
    train("train.lr=", expect=("train.lr", '""')),
    train("train.lr=inf", expect=("train.lr", "= inf")),
    train("train.lr=nan", expect=("train.lr", "= nan")),
    train("train.beta=0", expect=("train.beta", "= 0")),
    train("train.kl_coef=-0.1", expect=("train.kl_coef", "= -0.1")),
    train("train.sppo_eta=0", expect=("train.sppo_eta", "= 0")),
    train("train.clip_eps=0", expect=("train.clip_eps", "= 0")),
    train("train.micro_batch_size=0", expect=("train.micro_batch_size", "= 0")),
    train("train.epochs=0", expect=("train.epochs", "= 0")),
    train("train.steps_per_epoch=0", expect=("train.steps_per_epoch", "= 0")),
    train("train.max_in_flight=0", expect=("train.max_in_flight", "= 0")),
    train("train.warmup=10", expect=("train.warmup", "unknown field")),
    train("train=3", expect=("'train'", "= 3", "is a section")),
    # -- [eval] --------------------------------------------------------------------------
    train("eval.every=-1", expect=("eval.every", "= -1")),
    train("eval.every=true", expect=("eval.every", "= true")),
    train("eval.size=0", expect=("eval.size", "= 0")),
    train('eval.seed="x"', expect=("eval.seed", '"x"')),
    train('eval.arena="nope-arena"', expect=("eval.arena", '"nope-arena"', "unknown arena")),
    train("eval.arena=5", expect=("eval.arena", "= 5")),
    train('eval.arena="{ROOT}/examples/letter_count.py:LetterCount"', expect=("eval.arena", "none of the trained roles")),
    train("eval.kwargs.digits=3", expect=("eval.kwargs", "digits = 3", "'eval.arena' is not")),
    train('eval.arena="qa-eval"', "eval.kwargs=5", expect=("eval.kwargs", "= 5")),
    train('eval.greedy="yes"', expect=("eval.greedy", '"yes"')),
    train('eval.roles={solver="solver"}', expect=("eval.roles", "'eval.arena' is not")),
    train('eval.arena="qa-eval"', 'eval.roles={judge="solver"}', expect=("eval.roles.judge", "no seat", "solver, verifier")),
    train('eval.arena="qa-eval"', 'eval.roles={solver="critic"}', expect=("eval.roles.solver", '"critic"', "not a role")),
    train('eval.arena="qa-eval"', "eval.roles=5", expect=("eval.roles", "= 5")),
    train("eval.temperature=0", expect=("eval.temperature", "= 0")),
    train("eval.temperature=0.7", "eval.greedy=true", expect=("eval", "contradict")),
    train("eval.temperature=true", expect=("eval.temperature", "= true")),
    # -- top level -----------------------------------------------------------------------
    train("name=5", expect=("'name'", "= 5")),
    train('nmae="x"', expect=("nmae", "unknown field")),
    # -- override syntax -----------------------------------------------------------------
    train("train.lr", expect=("override 'train.lr'", "section.field=value")),
    train("=3", expect=("override '=3'", "empty field name")),
    train("train.=1", expect=("override 'train.=1'", "empty part")),
    train(".lr=1", expect=("override '.lr=1'", "empty part")),
    train("train..lr=1", expect=("override 'train..lr=1'", "empty part")),
    train("foo.bar=3", expect=("'foo'", "unknown field")),
    train("train.lr.x=1", expect=("override 'train.lr.x=1'", "'train.lr' is a value")),
    train("model.source.x=1", expect=("override 'model.source.x=1'", "'model.source' is a value")),
    # -- paths ---------------------------------------------------------------------------
    Case(("train", "{TMP}/missing.toml", "--out", "{OUT}"), ("missing.toml", "does not exist")),
    Case(("train", "{TMP}/empty_dir", "--out", "{OUT}"), ("empty_dir", "is a directory")),
    Case(("train", "{TMP}/run_dir", "--out", "{OUT}"), ("run_dir", "is a directory", "--resume")),
    Case(("train", "{TMP}/binary.toml", "--out", "{OUT}"), ("binary.toml", "not a text file")),
    Case(("train", "{TMP}/latin1.toml", "--out", "{OUT}"), ("latin1.toml", "not a text file")),
    Case(("train", "{TMP}/invalid.toml", "--out", "{OUT}"), ("invalid.toml", "not valid TOML")),
    Case(("train", "{TMP}/empty.toml", "--out", "{OUT}"), ("'roles'", "no seat trains")),
    Case(("train", "{TMP}/not_a_recipe.json", "--out", "{OUT}"), ("not_a_recipe.json", "not valid TOML")),
    Case(("train", "--resume", "{TMP}/empty_dir"), ("empty_dir", "not a run directory")),
    Case(("train", "--resume", "{TMP}/nowhere"), ("nowhere", "--resume")),
    Case(("train", "{ROOT}/recipes/tiny_smoke.toml", "--out", "{TMP}/notes.txt"), ("--out", "notes.txt")),
    Case(("train", "{ROOT}/recipes/tiny_smoke.toml", "--out", "{TMP}/notes.txt/run"), ("--out", "notes.txt/run")),
    Case(("train", "{ROOT}/recipes/tiny_smoke.toml", "--out", "{TMP}/run_dir"), ("run_dir", "already holds a run")),
    Case(("train",), ("train needs a RECIPE and --out",)),
    Case(("train", "{ROOT}/recipes/tiny_smoke.toml"), ("--out",)),
    # -- sparring play -------------------------------------------------------------------
    play("qa-verify", "--model", "/no/such/model", expect=("model", "/no/such/model")),
    play("qa-verify", "--model", "tiny:x", expect=("model", "tiny:x")),
    play("qa-verify", "--model", "tiny", "--device", "cuda", expect=("device", "cuda")),
    play("qa-verify", "--model", "tiny", "--dtype", "fp16", expect=("--dtype", "fp16")),
    play("qa-verify", "--model", "tiny", "--batch-size", "0", expect=("batch", "0")),
    play("qa-verify", "--model", "tiny", "--max-in-flight", "0", expect=("flight", "0")),
    play("qa-verify", "--model", "tiny", "--matches", "0", expect=("matches", "0")),
    play("nope-arena", "--model", "tiny", expect=("nope-arena", "unknown arena")),
    play("qa-verify", "--model", "tiny", "--arena-arg", "digits=abc", expect=("digits", "abc")),
    play("qa-verify", "--model", "tiny", "--arena-arg", "digits=9", expect=("digits", "9")),
    play("qa-verify", "--model", "tiny", "--arena-arg", "nope=1", expect=("nope",)),
    play("qa-verify", "--model", "tiny", "--arena-arg", "digits", expect=("--arena-arg", "'digits'", "key=value")),
    play("qa-verify", "--model", "tiny", "--role", "solver.adapter=a/b", expect=("roles.solver.adapter", "a/b")),
    play("qa-verify", "--model", "tiny", "--role", "nobody.temperature=1", expect=("nobody", "not a seat")),
    play("qa-verify", "--model", "tiny", "--role", "solver.temperature=true",
         expect=("roles.solver.temperature", "True")),
    play("qa-verify", "--model", "tiny", "--role", "solver.top_p=2", expect=("solver", "top_p", "2")),
    play("qa-verify", "--model", "tiny", "--role", "solver=1", expect=("--role", "solver", "SEAT.FIELD=VALUE")),
    play("qa-verify", "--model", "tiny", "--role", "solver.init_from=x", expect=("roles.solver.init_from", "unknown field")),
    play("qa-verify", "--model", "tiny", "--role", "verifier.adapter=judge", "--adapter", "judge={TMP}/nowhere",
         expect=("--adapter judge", "nowhere", "does not exist")),
    play("qa-verify", "--model", "tiny", "--adapter", "judge={TMP}/adapter_r4", expect=("judge", "no seat plays on it")),
    Case(("play", "qa-verify", "--model", "tiny", "--out", "{TMP}/notes.txt", "-q"), ("--out", "notes.txt")),
    play("qa-verify", "--model", "tiny", "--matches", "abc", expect=("--matches", "'abc'")),
]


def _row(case: Case) -> object:
    label = " ".join(a for a in case.argv if a not in ("--out", "{OUT}", "-q"))
    label = label.replace("{ROOT}/recipes/tiny_smoke.toml ", "").replace("{ROOT}/examples/debate.toml ", "debate ")
    label = label.replace("{TMP}/letters.toml ", "letters ").replace("{TMP}/qa_eval.toml", "qa-eval-train")
    marks = []
    if "model.device=\"cuda\"" in case.argv or "cuda" in case.argv:
        import torch

        marks.append(pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"))
    return pytest.param(case, id=label, marks=marks)


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 110


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Files the rows point at: recipes of other arenas, broken files, fake folders."""
    (tmp_path / "letters.toml").write_text(
        '[model]\nsource = "tiny"\n'
        f'[arena]\nname = "{ROOT / "examples" / "letter_count.py"}:LetterCount"\n'
        '[roles.counter]\nadapter = "counter"\nupdate = "grpo"\n'
    )
    (tmp_path / "qa_eval.toml").write_text(
        '[model]\nsource = "tiny"\n[arena]\nname = "qa-eval"\n[roles.solver]\nadapter = "solver"\nupdate = "grpo"\n'
    )
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "notes.txt").write_text("not a model\n")
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "not_arena.py").write_text("class NotArena:\n    pass\n")
    (tmp_path / "binary.toml").write_bytes(b"\x00\xff\xfe binary \x81")
    (tmp_path / "latin1.toml").write_bytes('name = "café"\n'.encode("latin-1"))
    (tmp_path / "invalid.toml").write_text("[train\nlr = 1\n")
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "not_a_recipe.json").write_text('{"train": {"lr": 0.1}}\n')
    run = tmp_path / "run_dir"
    run.mkdir()
    (run / "store.sqlite").write_bytes(b"")
    (run / "recipe.toml").write_text((ROOT / "recipes" / "tiny_smoke.toml").read_text())
    for name, rank, targets, weights in (("adapter_r4", 4, ["q_proj", "v_proj"], True),
                                         ("adapter_qv", 8, ["q_proj", "v_proj"], True),
                                         ("adapter_no_weights", 8, ["q_proj"], False)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "adapter_config.json").write_text(json.dumps(
            {"peft_type": "LORA", "r": rank, "lora_alpha": 16, "target_modules": targets}))
        if weights:
            (folder / "adapter_model.safetensors").write_bytes(b"\x00" * 16)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any row that reaches the model loader fails: validation must come first.

    The console is made wide: rich wraps at 80 columns when not on a terminal, which
    would split a one-line error (joining lines instead would hide real multi-line output).
    """
    import sparring.agents.pool as pool

    monkeypatch.setenv("COLUMNS", "1000")

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("model loaded")

    monkeypatch.setattr(pool, "load_base", tripwire)
    yield


@pytest.mark.parametrize("case", [_row(c) for c in CASES])
def test_malformed_input_is_one_line_naming_the_field(case: Case, workspace: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = workspace / "out"
    def fill(text: str) -> str:  # not str.format: TOML values have braces of their own
        return text.replace("{TMP}", str(workspace)).replace("{OUT}", str(out)).replace("{ROOT}", str(ROOT))

    argv = [fill(a) for a in case.argv]
    before = _files(workspace)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    captured = capsys.readouterr()
    text = (captured.out + captured.err).strip()
    assert code == 2, f"exit {code} (2 = a mistake in the input):\n{text}"
    assert "\n" not in text, f"not one line:\n{text}"
    assert text.startswith("error:"), text
    for part in case.expect:
        expected = fill(part)
        assert expected in text, f"{expected!r} not in: {text}"
    assert not out.exists(), f"{out} was created"
    assert _files(workspace) == before, "files changed"
