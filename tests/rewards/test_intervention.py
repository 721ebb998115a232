"""Preference pairs by intervention: original and branch, credit to the first differing reply."""

from __future__ import annotations

from sparring import QuestionAnswerVerify, Runner, ScriptedEngine
from sparring.arenas.branch import BranchPrefix
from sparring.rewards.intervention import first_shared_prompt_difference, intervention_pairs
from tests.helpers import SeatScript, play_qa, well_formed_script


def branch_with_solver(original, replies):  # noqa: ANN001, ANN201 - test helper
    """``original`` branched at the solver's first turn, the solver now answering ``replies``."""
    script = well_formed_script()
    script.replies["solver"] = replies
    prefix = BranchPrefix({original.seed: original}, 1, {original.seed: 5})
    [branch] = Runner({"default": ScriptedEngine(script)}, prefix=prefix).play(QuestionAnswerVerify(), [original.seed])
    branch.match_id = original.match_id + "~k0"
    return branch


def test_the_reply_whose_match_scored_higher_is_chosen_with_its_provenance() -> None:
    [original], _ = play_qa([0])
    assert original.turns[1].text == "12 + 30 = 42. Answer: 42"  # right, solver_truth 1 on that turn
    branch = branch_with_solver(original, ["Answer: 40"])
    assert first_shared_prompt_difference(original, branch) == 1
    record = {"whatif": "abc", "swaps": ["solver.temperature=0"], "from_turn": 1}
    [pair] = intervention_pairs([(original, branch, record)], "solver_truth", seats={"solver"})
    assert (pair.seat, pair.chosen.text, pair.rejected.text) == ("solver", "12 + 30 = 42. Answer: 42", "Answer: 40")
    row = pair.row()
    assert row["chosen"] == [{"role": "assistant", "content": "12 + 30 = 42. Answer: 42"}]
    assert row["prompt"] == original.turns[1].messages and row["turn"] == 1 and row["whatif"] == "abc"
    assert (row["parent"], row["branch"], row["chosen_from"]) == (original.match_id, branch.match_id, "original")
    assert (row["original_value"], row["branch_value"]) == (1.0, 0.0)
    pair_ids = pair.preference(lambda messages: [1, 2, 3])
    assert pair_ids.chosen_ids == original.turns[1].token_ids and pair_ids.meta["parent"] == original.match_id


def test_ties_other_seats_and_unshared_prompts_give_no_pair() -> None:
    [original], _ = play_qa([0])
    same_score = branch_with_solver(original, ["Answer: 42"])  # another text, the same truth
    assert intervention_pairs([(original, same_score, {})], "solver_truth") == []
    differs = branch_with_solver(original, ["Answer: 40"])
    assert intervention_pairs([(original, differs, {})], "solver_truth", seats={"verifier"}) == []
    [other], _ = play_qa([0], script=SeatScript(questioner=["Question: What is 1 + 1?\nAnswer: 2"],
                                                 solver=["Answer: 2"], verifier=["Verdict: correct"]))
    assert first_shared_prompt_difference(original, other) == 0  # the questioner's reply, to the same prompt
    unshared = original.model_copy(deep=True)
    unshared.turns[1].text = "Answer: 40"
    unshared.turns[1].messages[-1]["content"] = "What is 1 + 1?"
    assert first_shared_prompt_difference(original, unshared) is None  # replies to different prompts
    assert intervention_pairs([(original, unshared, {})], "solver_truth") == []
