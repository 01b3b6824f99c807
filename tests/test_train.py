import pytest
import torch

from tlcourse.data import image_dataloaders
from tlcourse.train import Result, fine_tune, make_learner, train_from_scratch


@pytest.fixture(scope="module")
def dls():
    return image_dataloaders("photos5", 64, 4, images_per_class=2, seed=0, device="cpu")


def test_fine_tune_returns_a_result_with_one_accuracy_per_epoch(dls):
    result = fine_tune(dls, "efficientnet_lite0", epochs=2, freeze_epochs=1)
    assert isinstance(result, Result) and result.pretrained
    assert len(result.history) == 2 and result.accuracy == result.history[-1]
    assert 0 <= result.accuracy <= 1 and result.seconds > 0 and result.train_images == 10


def test_from_scratch_uses_random_weights(dls):
    result = train_from_scratch(dls, "mobilenet_v2", epochs=1)
    assert not result.pretrained and len(result.history) == 1


def test_frozen_training_leaves_the_pretrained_body_exactly_as_it_was(dls):
    learn = make_learner(dls, "mobilenet_v2")
    learn.freeze()
    before = {k: v.clone() for k, v in learn.model[0].state_dict().items()}
    head_before = [p.clone() for p in learn.model[1].parameters()]
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    after = learn.model[0].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
    assert any(not torch.equal(a, b) for a, b in zip(head_before, learn.model[1].parameters()))


def test_fastai_defaults_would_have_moved_the_batchnorm_statistics(dls):
    learn = make_learner(dls, "mobilenet_v2", train_bn=True, keep_bn_stats=False)
    learn.freeze()
    bn = next(m for m in learn.model[0].modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
    assert not torch.equal(before, bn.running_mean)


def test_fine_tune_needs_epochs_beyond_the_frozen_ones(dls):
    with pytest.raises(ValueError, match="must exceed"):
        fine_tune(dls, "mobilenet_v2", epochs=1, freeze_epochs=1)


def test_seconds_to_reach_reads_the_curve():
    result = Result("m", True, 0.6, 3.0, 3, 10, 0, history=[0.2, 0.55, 0.6], epoch_seconds=[1.0, 2.0, 3.0])
    assert result.seconds_to_reach(0.5) == 2.0 and result.seconds_to_reach(0.9) == float("inf")


def test_a_frozen_body_step_costs_fewer_flops_than_a_full_step():
    from tlcourse.cost import training_step_flops
    from tlcourse.train import transfer_model
    net = transfer_model("mobilenet_v2", 5, pretrained=False)
    frozen, full = (training_step_flops(net, 64, 2, frozen_body=f) for f in (True, False))
    assert 2.5 * frozen < full < 3 * frozen  # the body's backward pass is skipped when it is frozen
