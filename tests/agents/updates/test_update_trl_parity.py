"""Our preference losses give the same numbers as TRL's on the same log-probs.

TRL 1.16 has no standalone DPO loss function: the loss lives inside
``DPOTrainer._compute_loss``. We check against the formula TRL documents and, where TRL
is installed, run that method itself on a stand-in trainer whose "model" returns fixed
per-token log-probs (so no dataset, tokenizer or accelerator is involved).
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from sparring.agents.updates.losses import dpo_loss, ipo_loss, sppo_loss

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


def _trl_loss(loss_type: str, tokens: int) -> tuple[float, dict[str, list[float]]]:
    """Run TRL's own ``DPOTrainer._compute_loss`` on the log-probs above.

    Each row's log-prob is spread evenly over ``tokens`` completion tokens, so TRL's
    token sums give back the sequence log-probs (and its IPO token means give them / tokens).
    """
    dpo_trainer = pytest.importorskip("trl.trainer.dpo_trainer")
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
        pytest.skip(f"TRL's DPOTrainer._compute_loss changed shape ({err!r}); update the stand-in")
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
