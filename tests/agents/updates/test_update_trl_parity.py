"""Our preference losses give the same numbers as TRL's on the same log-probs.

TRL 1.16 has no standalone DPO loss function: the loss lives inside
``DPOTrainer._compute_loss``. We check against the formula TRL documents and, where TRL
is installed, run that method itself on a stand-in trainer whose "model" returns fixed
per-token log-probs (so no dataset, tokenizer or accelerator is involved).

What the stand-in mimics is private to TRL: ``trl.trainer.dpo_trainer.DPOTrainer._compute_loss
(self, model, inputs, return_outputs)``, the trainer attributes it reads (``beta``,
``loss_types``, ``loss_weights``, ``label_smoothing``, ``precompute_ref_logps``, ``_metrics``,
...), the inputs it takes (``completion_mask``, ``ref_chosen_logps``, ...) and the fields
of its model output (``log_probs``, ``entropy``, ...). So the TRL versions it was checked
against are pinned in :data:`TESTED_TRL`: another version fails loudly (re-check the
stand-in, then widen the range) instead of skipping, and so does a stand-in that no longer
fits. Only a machine without TRL at all skips these tests.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from types import ModuleType, SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from packaging.version import Version

from sparring.agents.updates.losses import dpo_loss, ipo_loss, sppo_loss

#: TRL releases ``[low, high)`` the stand-in trainer below was checked against.
TESTED_TRL = (Version("1.16"), Version("1.17"))

CHOSEN = torch.tensor([-4.0, -7.5, -2.0])
REJECTED = torch.tensor([-5.0, -6.0, -2.5])
REF_CHOSEN = torch.tensor([-4.5, -7.0, -2.2])
REF_REJECTED = torch.tensor([-4.8, -6.5, -2.1])
BETA = 0.1


def test_dpo_matches_trl_documented_sigmoid_formula() -> None:
    # TRL docs (DPOTrainer, loss_type="sigmoid"):
    # loss = -logsigmoid(beta * ((pi_c - pi_r) - (ref_c - ref_r))), mean over pairs
    expected = -F.logsigmoid(BETA * ((CHOSEN - REJECTED) - (REF_CHOSEN - REF_REJECTED))).mean()
    ours, _ = dpo_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, beta=BETA)
    assert ours.item() == pytest.approx(expected.item(), abs=1e-7)


def _tested_dpo_trainer() -> ModuleType:
    """TRL's ``dpo_trainer`` module; skips only when TRL is not installed at all."""
    if importlib.util.find_spec("trl") is None:
        pytest.skip("TRL is not installed (pip install -e '.[test]')")
    import trl  # an import error of an installed TRL fails the test
    from trl.trainer import dpo_trainer

    low, high = TESTED_TRL
    if not low <= Version(trl.__version__) < high:
        pytest.fail(
            f"TRL {trl.__version__} is outside the range this parity test was checked against "
            f"(>={low},<{high}); the stand-in trainer mimics DPOTrainer._compute_loss's private "
            f"internals, so check them against this TRL and then widen TESTED_TRL"
        )
    return dpo_trainer


def test_installed_trl_is_a_tested_version() -> None:
    assert callable(_tested_dpo_trainer().DPOTrainer._compute_loss)


def _trl_loss(loss_type: str, tokens: int) -> tuple[float, dict[str, list[float]]]:
    """Run TRL's own ``DPOTrainer._compute_loss`` on the log-probs above.

    Each row's log-prob is spread evenly over ``tokens`` completion tokens, so TRL's
    token sums give back the sequence log-probs (and its IPO token means give them / tokens).
    """
    dpo_trainer = _tested_dpo_trainer()
    rows = torch.cat([CHOSEN, REJECTED])  # TRL stacks [chosen; rejected]
    width = tokens + 1  # one prompt token, then the completion
    per_token = torch.zeros(2 * len(CHOSEN), width - 1)
    per_token[:, :] = (rows / tokens).unsqueeze(-1)
    completion_mask = torch.ones(2 * len(CHOSEN), width, dtype=torch.long)
    completion_mask[:, 0] = 0

    def model(**_: object) -> SimpleNamespace:
        zeros = torch.zeros_like(per_token)
        return SimpleNamespace(
            log_probs=per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool(), aux_loss=None
        )

    model.training = True  # type: ignore[attr-defined]
    accelerator = SimpleNamespace(device="cpu", gather=lambda x: x, gather_for_metrics=lambda x: x)
    trainer = SimpleNamespace(
        model=model, ref_model=None, accelerator=accelerator, aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", f_alpha_divergence_coef=1.0,
        loss_types=[loss_type], loss_weights=[1.0], beta=BETA, label_smoothing=0.0, use_weighting=False,
        _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1,
    )
    inputs = {
        "input_ids": torch.ones(2 * len(CHOSEN), width, dtype=torch.long),
        "attention_mask": torch.ones(2 * len(CHOSEN), width, dtype=torch.long),
        "completion_mask": completion_mask,
        "ref_chosen_logps": REF_CHOSEN,
        "ref_rejected_logps": REF_REJECTED,
    }
    try:
        loss = dpo_trainer.DPOTrainer._compute_loss(trainer, model, inputs, False)
    except (AttributeError, TypeError, KeyError) as err:  # TRL's private internals moved
        raise AssertionError(
            f"TRL's DPOTrainer._compute_loss no longer fits the stand-in trainer ({err!r}); update the "
            f"stand-in to this TRL (see the module docs) rather than skipping the parity check"
        ) from err
    return float(loss), trainer._metrics["train"]


def test_dpo_matches_trl_trainer_code() -> None:
    trl_loss, trl_metrics = _trl_loss("sigmoid", tokens=4)
    ours, metrics = dpo_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, beta=BETA)
    assert ours.item() == pytest.approx(trl_loss, abs=1e-6)
    assert metrics["reward_margin"] == pytest.approx(trl_metrics["rewards/margins"][0], abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(trl_metrics["rewards/accuracies"][0])


def test_ipo_matches_trl_on_token_mean_logprobs() -> None:
    tokens = 4  # TRL's IPO divides the log-ratios by the completion length
    trl_loss, _ = _trl_loss("ipo", tokens=tokens)
    ours, _ = ipo_loss(CHOSEN / tokens, REJECTED / tokens, REF_CHOSEN / tokens, REF_REJECTED / tokens, beta=BETA)
    assert ours.item() == pytest.approx(trl_loss, abs=1e-5)


def test_sppo_with_hard_win_rates_matches_trl_sppo_hard() -> None:
    # TRL's sppo_hard per pair: (chosen log-ratio - 0.5/beta)^2 + (rejected log-ratio + 0.5/beta)^2,
    # which is our square loss with win rates 1 and 0 and eta = 1/beta, summed over the two
    # replies (we average over replies, hence the factor 2).
    trl_loss, _ = _trl_loss("sppo_hard", tokens=4)
    ours, _ = sppo_loss(
        torch.cat([CHOSEN, REJECTED]), torch.cat([REF_CHOSEN, REF_REJECTED]),
        torch.cat([torch.ones(3), torch.zeros(3)]), eta=1 / BETA,
    )
    assert 2 * ours.item() == pytest.approx(trl_loss, rel=1e-6)


def test_trl_changes_fail_loudly_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    # BaseException: a pytest.skip (what this module used to do) must not pass as success.
    dpo_trainer = _tested_dpo_trainer()

    def moved(*_: object) -> None:
        raise AttributeError("'SimpleNamespace' object has no attribute 'some_new_field'")

    monkeypatch.setattr(dpo_trainer.DPOTrainer, "_compute_loss", moved)
    with pytest.raises(BaseException, match="no longer fits the stand-in") as info:
        _trl_loss("sigmoid", tokens=4)
    assert info.type is AssertionError
    monkeypatch.undo()

    import trl

    monkeypatch.setattr(trl, "__version__", str(TESTED_TRL[1]))
    with pytest.raises(pytest.fail.Exception, match="outside the range"):
        _tested_dpo_trainer()
