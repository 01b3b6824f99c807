import pytest
import torch

from tlcourse.data import image_dataloaders
from tlcourse.train import Result, fine_tune, make_learner, train_from_scratch


@pytest.fixture(scope="module")
def dls():
    return image_dataloaders("photos5", 64, 4, images_per_class=2, seed=0, device="cpu")


def _first_filters_similarity(result: Result) -> float:
    """Cosine similarity of the trained network's first convolution with ImageNet's."""
    from tlcourse.assets.models import body_of, build_model
    imagenet = next(body_of(build_model(result.model), result.model).parameters()).flatten()
    trained = next(result.learner.model[0].parameters()).detach().cpu().flatten()
    imagenet = imagenet.detach()
    return float(torch.nn.functional.cosine_similarity(imagenet, trained, dim=0))


def test_fine_tune_starts_from_imagenet_and_keeps_the_trained_model(dls):
    result = fine_tune(dls, "mobilenet_v2", epochs=2, freeze_epochs=1)
    assert len(result.history) == 2 and result.accuracy == result.history[-1] and result.train_images == 10
    assert _first_filters_similarity(result) > 0.95  # one unfrozen epoch at a small rate moves the filters little
    predictions, targets = result.learner.get_preds(dl=dls.valid)
    assert (predictions.argmax(1) == targets).float().mean().item() == pytest.approx(result.accuracy)


def test_training_runs_in_channels_last_layout_on_the_cpu(dls):
    result = train_from_scratch(dls, "efficientnet_lite0", epochs=1)
    convolutions = [m for m in result.learner.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convolutions)


def test_from_scratch_uses_random_weights(dls):
    result = train_from_scratch(dls, "mobilenet_v2", epochs=1)
    assert abs(_first_filters_similarity(result)) < 0.2 and len(result.history) == 1


def test_a_run_does_not_depend_on_what_ran_before(dls):
    first = fine_tune(dls, "mobilenet_v2", epochs=2, freeze_epochs=1, seed=3)
    for _ in range(3):
        list(dls.train)  # other work that shuffles the same loaders
    torch.rand(5)
    again = fine_tune(dls, "mobilenet_v2", epochs=2, freeze_epochs=1, seed=3)
    assert first.history == again.history


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


def test_step_flops_are_the_published_forward_count_times_the_documented_rule():
    """torchvision publishes mobilenet_v2's forward cost at 224 px as `_ops` = 0.301 (its "GFLOPS": billions of
    multiply-adds, rounded to 3 decimals); torch's counter counts a multiply-add as 2 FLOPs. A step is the
    forward pass plus a backward pass of 2 forwards wherever weights train: body + 3 head when the body is
    frozen, 3 (body + head) when it is not."""
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    from tlcourse.cost import forward_flops, training_step_flops
    from tlcourse.train import transfer_model

    published = MobileNet_V2_Weights.IMAGENET1K_V1.meta["_ops"]
    imagenet_net = mobilenet_v2().eval()
    flops, _ = forward_flops(imagenet_net, torch.zeros(1, 3, 224, 224))
    assert abs(flops / 2e9 - published) <= 0.0005  # within the rounding of the published figure

    def counted(module, x):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = module(x)
        return counter.get_total_flops(), out
    net, batch = transfer_model("mobilenet_v2", 5, pretrained=False).eval(), 2
    body, features = counted(net[0], torch.zeros(batch, 3, 224, 224))
    head, _ = counted(net[1], features)
    classifier = imagenet_net.classifier[-1]  # the ImageNet network is our body plus this linear layer
    assert abs((body / batch / 2 + classifier.in_features * classifier.out_features) / 1e9 - published) <= 0.0005
    assert head == sum(2 * batch * m.in_features * m.out_features for m in net[1].modules()
                       if isinstance(m, torch.nn.Linear))
    assert training_step_flops(net, 224, batch, frozen_body=True) == body + 3 * head
    assert training_step_flops(net, 224, batch, frozen_body=False) == 3 * (body + head)
