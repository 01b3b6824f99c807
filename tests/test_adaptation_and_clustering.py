import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from tlcourse.adaptation import SOURCE_ONLY, Adaptation, DomainFeatures, compare_methods, reestimate_batchnorm
from tlcourse.clustering import cluster_score
from tlcourse.data import image_dataloaders
from tlcourse.features import frozen_body


@pytest.fixture(scope="module")
def two_domains():
    """scikit-learn's 8x8 digits: the source as they are, the target with faded ink on grey paper."""
    x, y = load_digits(return_X_y=True)
    x = x / 16
    return DomainFeatures(x[:600], y[:600], 0.4 + 0.5 * x[600:900], y[600:900])


def test_no_method_sees_the_target_rows_it_is_scored_on(two_domains, monkeypatch):
    """Spy on everything compare_methods hands target rows to: what each model was fitted or adapted on, and
    which rows it was scored on. Every target row must be scored once per method, by a model that saw the
    other folds' rows and never that row."""
    from tlcourse import adaptation
    source, target = two_domains.source, two_domains.target
    row_of = {r.tobytes(): i for i, r in enumerate(target)} | \
             {r.tobytes(): i for i, r in enumerate(target.astype(np.float32))}
    def ids(rows):
        rows = np.asarray(rows).reshape(len(rows), -1)
        return [row_of[r.tobytes()] for r in rows if r.tobytes() in row_of]  # source rows are not counted
    models = []  # one per model: the method, the target rows it saw, the target rows it scored
    def new_model(method):
        models.append({"method": method, "seen": set(), "scored": []})
        return models[-1]
    inside = []  # classifiers built inside a method belong to that method

    real_classifier = adaptation.classifier
    def classifier(*args, **kwargs):
        model = real_classifier(*args, **kwargs)
        if inside:
            return model
        record, fit, predict = new_model("classifier"), model.fit, model.predict
        def spy_fit(x, y):
            record["seen"].update(ids(x))
            fit(x, y)
            return model
        model.fit = spy_fit
        model.predict = lambda x: record["scored"].extend(ids(x)) or predict(x)
        return model

    def scored_by(record, predict):
        return lambda x: record["scored"].extend(ids(x)) or predict(x)

    def self_training(source, source_labels, target, **kwargs):
        record = new_model("self-training")
        record["seen"].update(ids(target))
        inside.append(True)
        model = real_self_training(source, source_labels, target, **kwargs | {"rounds": 1})
        inside.pop()
        model.predict = scored_by(record, model.predict)
        return model

    def train_dann(source, source_labels, target, **kwargs):
        record = new_model("DANN")
        record["seen"].update(ids(target))
        return scored_by(record, real_train_dann(source, source_labels, target, **kwargs | {"steps": 30}))

    def standardise_per_domain(features, reference):
        if ids(features):
            record = new_model("standardise per domain")
            record["seen"].update(ids(reference))
            record["scored"].extend(ids(features))
        return real_standardise(features, reference)

    def tiny_body(model_name):  # one BatchNorm: AdaBN's statistics, and what they were estimated on
        body = torch.nn.Sequential(torch.nn.BatchNorm2d(target.shape[1])).eval()
        record = new_model("AdaBN")
        def hook(module, inputs, output):
            rows = ids(inputs[0].numpy())
            record["seen"].update(rows) if module.training else record["scored"].extend(rows)
        body[0].register_forward_hook(hook)
        return body

    real_self_training, real_train_dann = adaptation.self_training, adaptation.train_dann
    real_standardise = adaptation.standardise_per_domain
    monkeypatch.setattr(adaptation, "classifier", classifier)
    monkeypatch.setattr(adaptation, "self_training", self_training)
    monkeypatch.setattr(adaptation, "train_dann", train_dann)
    monkeypatch.setattr(adaptation, "standardise_per_domain", standardise_per_domain)
    monkeypatch.setattr("tlcourse.features.frozen_body", tiny_body)
    # the tiny body's pooled features are each row twice (max and mean of a 1x1 map)
    adabn = adaptation.AdaBNFeatures("tiny", np.hstack([source, source]), two_domains.source_labels,
                                     torch.tensor(target, dtype=torch.float32)[:, :, None, None])
    result = compare_methods("digits -> faded digits", two_domains, adabn=adabn)
    assert set(result.accuracy) == {SOURCE_ONLY, "self-training", "standardise per domain", "DANN", "AdaBN"}

    for model in models:  # the top-level classifiers: the oracle was fitted on target rows, source only on none
        if model["method"] == "classifier" and model["scored"]:
            model["method"] = "oracle" if model["seen"] else SOURCE_ONLY
    every_row = set(range(len(target)))
    for method in (SOURCE_ONLY, "self-training", "standardise per domain", "DANN", "AdaBN", "oracle"):
        scoring = [m for m in models if m["method"] == method and m["scored"]]
        scored = sorted(i for m in scoring for i in m["scored"])
        assert scored == sorted(every_row), f"{method} does not score every target row exactly once"
        for model in scoring:
            assert not model["seen"] & set(model["scored"]), f"{method} saw rows it was scored on"
            if method != SOURCE_ONLY:  # the transductive methods use all the other folds' rows
                assert model["seen"] | set(model["scored"]) == every_row, method


def test_standardising_per_domain_undoes_an_affine_shift(two_domains):
    result = compare_methods("digits -> faded digits", two_domains)
    assert result.accuracy["standardise per domain"] > result.accuracy[SOURCE_ONLY] + 0.3


def test_only_the_methods_asked_for_are_trained(two_domains, monkeypatch):
    from tlcourse import adaptation

    def not_asked_for(*args, **kwargs):
        raise AssertionError("a method that was not asked for was trained")
    monkeypatch.setattr(adaptation, "train_dann", not_asked_for)
    monkeypatch.setattr(adaptation, "self_training", not_asked_for)
    result = compare_methods("digits -> faded digits", two_domains, methods=("standardise per domain",))
    assert set(result.accuracy) == {SOURCE_ONLY, "standardise per domain"} and result.oracle is not None
    with pytest.raises(ValueError, match="choose from"):
        compare_methods("digits -> faded digits", two_domains, methods=("AdaBN",))


def test_best_method_and_gain_ignore_source_only():
    result = Adaptation("c", {SOURCE_ONLY: 0.9, "a": 0.7, "b": 0.8}, 0.95, {})
    assert result.best_method == "b" and result.gain == pytest.approx(-0.1)


def test_adabn_replaces_batchnorm_statistics_with_the_target_images():
    dls = image_dataloaders("clipart5", 64, 8, images_per_class=2, augment=False, device="cpu")
    body = frozen_body("mobilenet_v2")
    bn = next(m for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    reestimate_batchnorm(body, dls.train)
    assert not torch.allclose(before, bn.running_mean) and not body.training


def test_cluster_scores_are_perfect_for_label_features_and_low_for_noise():
    labels = np.repeat(np.arange(4), 25)
    perfect = cluster_score(np.eye(4)[labels] * 10, labels, 4)
    noise = cluster_score(np.random.default_rng(0).normal(size=(100, 8)), labels, 4)
    assert perfect.mean_nmi == pytest.approx(1) and perfect.mean_ari == pytest.approx(1)
    assert noise.mean_nmi < 0.2
