"""Unit 07's checks accept correct answers written in several ways and reject realistic mistakes.

Each exercise has correct variants (another formula, float32, loops, another library call)
and at least five wrong answers that students really write, with words the message must
contain. The reading question's messages must never name the right letter.
"""

import math

import numpy as np
import pytest

from course_lib import mlp
from tests.conftest import typed_by_a_student
from tests.checks.conftest import accepts, rejects

ensembles = typed_by_a_student("course_lib.ensembles")   # the references as a student would type them
search = typed_by_a_student("course_lib.search")
from course_lib.checks import tuning as checks


# ---------------------------------------------------------------------------------- 1. sanity
def overfit_loop(X, y, hidden_dim, learning_rate, num_steps, seed, sign=1.0, lr=None, init_seed=None,
                 skip_first=False, frozen=()):
    params = mlp.init_two_layer_params(X.shape[1], hidden_dim, 1, "tanh", seed if init_seed is None else init_seed)
    step = learning_rate if lr is None else lr
    history = []
    for _ in range(num_steps):
        loss, grads = mlp.two_layer_loss(X, y, params, "tanh")
        history.append(loss)
        for name in params:
            if name not in frozen:
                params[name] -= sign * step * grads[name]
    history.append(mlp.two_layer_loss(X, y, params, "tanh")[0])
    return np.array(history[1:] if skip_first else history)


def overfit_float32(X, y, hidden_dim, learning_rate, num_steps, seed):
    """Works on float32 copies of the data, and returns a list."""
    history = overfit_loop(X.astype(np.float32).astype(float), y, hidden_dim, learning_rate, num_steps, seed)
    return [float(v) for v in history]


OVERFIT_WRONG = {
    "no initial loss": (lambda *a: overfit_loop(*a, skip_first=True), "should have"),
    "uphill": (lambda *a: overfit_loop(*a, sign=-1.0), "uphill"),
    "fixed seed": (lambda X, y, h, lr, n, seed: overfit_loop(X, y, h, lr, n, seed, init_seed=0), "seed"),
    "fixed rate": (lambda *a: overfit_loop(*a, lr=1.0), "learning rate is ignored"),
    "never updates": (lambda X, y, h, lr, n, seed: np.full(n + 1, overfit_loop(X, y, h, lr, 0, seed)[0]),
                      "never changes"),
    "W1 frozen (the notebook's bug)": (lambda *a: overfit_loop(*a, frozen=("W1",)), "wrong values"),
    "relu network": (lambda X, y, h, lr, n, seed: search.overfit_tiny_batch(X, y, h, lr, n, seed, "relu"),
                     "wrong values"),
}


def test_overfit_accepts_variants():
    accepts(checks.check_overfit_tiny_batch, overfit_loop)
    accepts(checks.check_overfit_tiny_batch, overfit_float32, seed=3)
    accepts(checks.check_overfit_tiny_batch,
             lambda X, y, hidden_dim, learning_rate, num_steps, seed: search.overfit_tiny_batch(
                 X, y, hidden_dim, learning_rate, num_steps, seed))


@pytest.mark.parametrize("label", list(OVERFIT_WRONG))
def test_overfit_rejects(label):
    wrong, words = OVERFIT_WRONG[label]
    rejects(checks.check_overfit_tiny_batch,
             lambda X, y, hidden_dim, learning_rate, num_steps, seed: wrong(X, y, hidden_dim, learning_rate,
                                                                            num_steps, seed), match=words)


def test_sanity_reading_question_never_names_the_answer():
    accepts(checks.check_sanity_bug, "B")
    accepts(checks.check_sanity_bug, " b ")
    for wrong in ("A", "C", "D"):
        message = rejects(checks.check_sanity_bug, wrong, match="not the bug")
        assert "B" not in message.replace(f"Line {wrong}", "")
    for wrong in ("E", 2, None, ["A"]):
        message = rejects(checks.check_sanity_bug, wrong, match="one of the letters")
        assert "'B'" not in message and '"B"' not in message


# ---------------------------------------------------------------------------- 2. LR range test
def lr_range_loop(learning_rates, losses, initial_loss, drop=0.1):
    start = float("nan")
    for rate, loss in zip(learning_rates, losses):
        if loss < (1 - drop) * initial_loss:              # nan compares False: fine
            start = rate
            break
    finite = [(loss, rate) for rate, loss in zip(learning_rates, losses) if not math.isnan(loss)]
    return start, min(finite)[1]


def lr_range_f32(learning_rates, losses, initial_loss, drop=0.1):
    start, best = search.lr_range(np.float32(learning_rates), np.float32(losses), np.float32(initial_loss), drop)
    return np.float32(start), np.float32(best)


def lr_no_drop(rates, losses, initial, drop=0.1):
    return search.lr_range(rates, losses, initial, drop=0.0)


def lr_plain_argmin(rates, losses, initial, drop=0.1):
    start, _ = search.lr_range(rates, losses, initial, drop)
    return start, rates[np.argmin(losses)]


def lr_indices(rates, losses, initial, drop=0.1):
    start, best = search.lr_range(rates, losses, initial, drop)
    return (float(np.argmin(np.abs(rates - start))) if not math.isnan(start) else start,
            float(np.nanargmin(losses)))


def lr_one_late(rates, losses, initial, drop=0.1):
    losses = np.asarray(losses)
    down = np.flatnonzero(losses < (1 - drop) * initial)
    return (rates[down[0] + 1] if down.size else float("nan")), rates[np.nanargmin(losses)]


def lr_best_as_start(rates, losses, initial, drop=0.1):
    best = rates[np.nanargmin(losses)]
    return best, best


def lr_no_nan_when_none(rates, losses, initial, drop=0.1):
    down = np.flatnonzero(np.asarray(losses) < (1 - drop) * initial)
    return rates[down[0] if down.size else 0], rates[np.nanargmin(losses)]


def lr_largest_finite(rates, losses, initial, drop=0.1):
    start, _ = search.lr_range(rates, losses, initial, drop)
    return start, rates[np.nanargmax(losses)]


LR_WRONG = {"drop ignored": (lr_no_drop, "(1 - drop)"), "argmin with nan": (lr_plain_argmin, "nan"),
            "indices": (lr_indices, "position"), "one late": (lr_one_late, "just after"),
            "best as start": (lr_best_as_start, "smallest"), "no nan": (lr_no_nan_when_none, "should be nan"),
            "argmax": (lr_largest_finite, "largest finite loss")}


def test_lr_range_accepts_variants():
    for answer in (lr_range_loop, lr_range_f32, search.lr_range):
        accepts(checks.check_lr_range, answer)
        accepts(checks.check_lr_range, answer, seed=3, num_rates=20)


@pytest.mark.parametrize("label", list(LR_WRONG))
def test_lr_range_rejects(label):
    wrong, words = LR_WRONG[label]
    rejects(checks.check_lr_range, wrong, match=words)


# ---------------------------------------------------------------------------- 3. log-uniform
def log_uniform_natural(low, high, size, rng):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def log_uniform_f32(low, high, size, rng):
    return (np.float32(10) ** rng.uniform(np.log10(low), np.log10(high), size).astype(np.float32)).clip(low, high)


def log_uniform_loop(low, high, size, rng):
    return np.array([low * (high / low) ** rng.random() for _ in range(size)])


LOG_WRONG = {
    "lecture's e ** uniform": (lambda low, high, size, rng: np.exp(rng.uniform(np.log10(low), np.log10(high), size)),
                               "e ** uniform"),
    "linear uniform": (lambda low, high, size, rng: rng.uniform(low, high, size), "top power of ten"),
    "exponent bounds are the values": (lambda low, high, size, rng: 10 ** rng.uniform(low, high, size), "outside"),
    "returns the exponent": (lambda low, high, size, rng: rng.uniform(np.log10(low), np.log10(high), size),
                             "positive"),
    "global generator": (lambda low, high, size, rng: 10 ** np.random.uniform(np.log10(low), np.log10(high), size),
                         "same seed"),
    "a grid": (lambda low, high, size, rng: np.logspace(np.log10(low), np.log10(high), size), "np.logspace"),
    "normal exponent": (lambda low, high, size, rng: 10 ** np.clip(rng.normal(-2.5, 1, size), -5, 0),
                        "not log-uniform"),
    "one sample": (lambda low, high, size, rng: 10 ** rng.uniform(np.log10(low), np.log10(high)), "shape"),
}


def test_log_uniform_accepts_variants():
    for answer in (search.sample_log_uniform, log_uniform_natural, log_uniform_f32, log_uniform_loop):
        accepts(checks.check_sample_log_uniform, answer)
    accepts(checks.check_sample_log_uniform, log_uniform_natural, seed=9, low=1e-6, high=1e-2)


@pytest.mark.parametrize("label", list(LOG_WRONG))
def test_log_uniform_rejects(label):
    wrong, words = LOG_WRONG[label]
    message = rejects(checks.check_sample_log_uniform, wrong, match=words)
    if label == "lecture's e ** uniform":
        assert "0.0067" in message and "10 ** uniform" in message


# ---------------------------------------------------------------------------- 4. grid and random
def grid_loops(a, b):
    return np.array([[x, y] for y in b for x in a], dtype=np.float32)     # other order, float32


GRID_WRONG = {
    "zip": (lambda a, b: np.column_stack([a[:min(len(a), len(b))], b[:min(len(a), len(b))]]), "zip"),
    "transposed": (lambda a, b: search.grid_points(a, b).T, "transpose"),
    "swapped columns": (lambda a, b: search.grid_points(b, a), "swapped"),
    "duplicated rows": (lambda a, b: np.vstack([search.grid_points(a, b)[:-1], search.grid_points(a, b)[:1]]),
                        "repeats"),
    "repeat both": (lambda a, b: np.column_stack([np.repeat(a, len(b)), np.repeat(b, len(a))]), "repeats"),
    "first value of values_2 only": (lambda a, b: np.column_stack([np.repeat(a, len(b)), np.tile(b[:1], len(a) * len(b))]),
                                     "repeats"),
    "values_2 shifted by one": (lambda a, b: search.grid_points(a, np.roll(b, 1) + 0.1), "wrong values"),
}


def test_grid_accepts_variants():
    import itertools
    for answer in (search.grid_points, grid_loops, lambda a, b: np.array(list(itertools.product(a, b)))):
        accepts(checks.check_grid_points, answer)
        accepts(checks.check_grid_points, answer, seed=3, num_first=1, num_second=6)


@pytest.mark.parametrize("label", list(GRID_WRONG))
def test_grid_rejects(label):
    wrong, words = GRID_WRONG[label]
    rejects(checks.check_grid_points, wrong, match=words)


def random_points_scaled(low, high, num_trials, rng):
    low, high = np.asarray(low), np.asarray(high)
    return (low + (high - low) * rng.random((num_trials, len(low)))).astype(np.float32)


def random_points_columns(low, high, num_trials, rng):
    return np.column_stack([rng.uniform(lo, hi, num_trials) for lo, hi in zip(low, high)])


RANDOM_WRONG = {
    "shape (P, T)": (lambda low, high, n, rng: search.random_points(low, high, n, rng).T, "Transpose"),
    "ignores low": (lambda low, high, n, rng: np.asarray(high) * rng.random((n, 2)), "outside the box"),
    "same numbers for both columns": (
        lambda low, high, n, rng: np.asarray(low) + (np.asarray(high) - np.asarray(low)) * rng.random((n, 1)),
        "correlated"),
    "normal": (lambda low, high, n, rng: np.clip(rng.normal((np.asarray(low) + high) / 2,
                                                            (np.asarray(high) - low) / 6, (n, 2)), low, high),
               "not uniform"),
    "global generator": (lambda low, high, n, rng: np.random.uniform(low, high, (n, 2)), "same seed"),
    "unit square": (lambda low, high, n, rng: rng.random((n, 2)), "outside the box"),
}


def test_random_points_accepts_variants():
    for answer in (search.random_points, random_points_scaled, random_points_columns):
        accepts(checks.check_random_points, answer)


@pytest.mark.parametrize("label", list(RANDOM_WRONG))
def test_random_points_rejects(label):
    wrong, words = RANDOM_WRONG[label]
    rejects(checks.check_random_points, wrong, match=words)


# ---------------------------------------------------------------------------- 5. grid vs random
def duel_loops(peaks, budget, rng):
    k = int(math.sqrt(budget))
    axis = [i / (k - 1) for i in range(k)]
    grid = np.array([[a, b] for a in axis for b in axis])
    grid_best = np.array([search.toy_objective(grid, p).max() for p in peaks])
    random_best = np.array([search.toy_objective(rng.uniform(0, 1, (budget, 2)), p).max() for p in peaks])
    return grid_best.astype(np.float32), random_best.astype(np.float32)


def duel_columns(peaks, budget, rng):
    """Draws each column of the random points on its own: other draws, the same distribution."""
    axis = np.linspace(0, 1, math.isqrt(budget))
    grid = search.grid_points(axis, axis)
    random_best = [search.toy_objective(np.column_stack([rng.random(budget), rng.random(budget)]), p).max()
                   for p in peaks]
    return np.array([search.toy_objective(grid, p).max() for p in peaks]), np.array(random_best)


def duel_with(grid_axis=None, num_random=None, reduce=np.max, swap=False, same_points=False, box=([0, 0], [1, 1])):
    def answer(peaks, budget, rng):
        axis = np.linspace(0, 1, math.isqrt(budget)) if grid_axis is None else grid_axis(budget)
        grid = search.grid_points(axis, axis)
        fixed = search.random_points([0, 0], [1, 1], budget, rng)
        grid_best, random_best = [], []
        for peak in peaks:
            points = fixed if same_points else search.random_points(*box, num_random or budget, rng)
            grid_best.append(reduce(search.toy_objective(grid, peak)))
            random_best.append(reduce(search.toy_objective(points, peak)))
        result = (np.array(grid_best), np.array(random_best))
        return result[::-1] if swap else result
    return answer


DUEL_WRONG = {
    "grid of budget values per axis": (duel_with(grid_axis=lambda b: np.linspace(0, 1, b)), "over the budget"),
    "worst instead of best": (duel_with(reduce=np.min), "worst"),
    "swapped": (duel_with(swap=True), "swapped"),
    "random search over budget": (duel_with(num_random=64), "higher than"),
    "random search too few": (duel_with(num_random=4), "lower than"),
    "grid without endpoints": (duel_with(grid_axis=lambda b: np.linspace(0, 1, math.isqrt(b) + 2)[1:-1]),
                               "wrong values"),
    # the unimportant axis barely moves a score: seen with the optimum out of reach
    "random points with column 1 at 0": (duel_with(box=([0, 0], [1, 0])), "column 1 alone"),
    "random points with column 1 at 1": (duel_with(box=([0, 1], [1, 1])), "column 1 alone"),
    "random points with column 1 in [-1, 1]": (duel_with(box=([0, -1], [1, 1])), "column 1 alone"),
    "random points with column 1 in [0, 0.5]": (duel_with(box=([0, 0], [1, 0.5])), "column 1 alone"),
}


def test_search_duel_accepts_variants():
    accepts(checks.check_search_duel, duel_with())
    accepts(checks.check_search_duel, duel_loops)
    accepts(checks.check_search_duel, duel_columns, seed=3, budget=25)
    accepts(checks.check_search_duel, search.search_duel, seed=5, num_repeats=200, budget=20)


@pytest.mark.parametrize("label", list(DUEL_WRONG))
def test_search_duel_rejects(label):
    wrong, words = DUEL_WRONG[label]
    rejects(checks.check_search_duel, wrong, match=words)


# ---------------------------------------------------------------------------- 6. coarse to fine
def narrow_sorted_pairs(values, losses, top_k=3):
    pairs = sorted((loss if not math.isnan(loss) else float("inf"), value) for value, loss in zip(values, losses))
    kept = [value for _, value in pairs[:top_k]]
    return np.float32(min(kept)), np.float32(max(kept))


def narrow_nan_last(values, losses, top_k=3):
    best = np.argsort(losses)[:top_k]                      # argsort puts nan last already
    return values[best].min(), values[best].max()


NARROW_WRONG = {
    "highest losses": (lambda v, l, k=3: (v[np.argsort(l)[-k:]].min(), v[np.argsort(l)[-k:]].max()), "highest"),
    "one too many": (lambda v, l, k=3: (v[np.argsort(l)[:k + 1]].min(), v[np.argsort(l)[:k + 1]].max()),
                     "keeps"),
    "smallest values": (lambda v, l, k=3: (np.sort(v)[0], np.sort(v)[k - 1]), "Likely mistake"),
    "nan as zero": (lambda v, l, k=3: (v[np.argsort(np.nan_to_num(l))[:k]].min(),
                                       v[np.argsort(np.nan_to_num(l))[:k]].max()), "nan"),
    "first and k-th": (lambda v, l, k=3: (v[np.argsort(l)[0]], v[np.argsort(l)[k - 1]]), "smallest and largest"),
    "best value twice": (lambda v, l, k=3: (v[np.nanargmin(l)], v[np.nanargmin(l)]), "wrong values"),
}


def test_narrow_range_accepts_variants():
    for answer in (search.narrow_range, narrow_sorted_pairs, narrow_nan_last):
        accepts(checks.check_narrow_range, answer)
        accepts(checks.check_narrow_range, answer, seed=7, num_trials=5, top_k=1)


@pytest.mark.parametrize("label", list(NARROW_WRONG))
def test_narrow_range_rejects(label):
    wrong, words = NARROW_WRONG[label]
    rejects(checks.check_narrow_range, wrong, match=words)


# ---------------------------------------------------------------------------- 7. ten crops
def crops_other_order(images, s):
    views = ensembles.ten_crops(images, s)
    return views[[5, 0, 9, 4, 1, 6, 2, 7, 3, 8]].astype(np.float32)


def crops_with(flip=lambda v: v[:, :, ::-1], centre=lambda h, w, s: ((h - s) // 2, (w - s) // 2), mirrored=True,
               stack_axis=0, square=False):
    def answer(images, s):
        h, w = images.shape[1], images.shape[2]
        if square:
            w = h
        r, c = centre(h, w, s)
        views = [images[:, a:a + s, b:b + s] for a, b in ((0, 0), (0, w - s), (h - s, 0), (h - s, w - s), (r, c))]
        if mirrored:
            views += [flip(v) for v in views]
        return np.stack(views, axis=stack_axis)
    return answer


CROPS_WRONG = {
    "vertical flip": (crops_with(flip=lambda v: v[:, ::-1]), "missing"),
    "flip the last axis (channels)": (crops_with(flip=lambda v: v[..., ::-1]), "missing"),
    "centre rounded up": (crops_with(centre=lambda h, w, s: ((h - s + 1) // 2, (w - s + 1) // 2)), "centre crop"),
    "five views": (crops_with(mirrored=False), "5 views"),
    "images first": (crops_with(stack_axis=1), "ten views first"),
    "assumes square images": (crops_with(square=True), "corners"),
}


def test_ten_crops_accepts_variants():
    for answer in (ensembles.ten_crops, crops_other_order, crops_with(flip=lambda v: np.flip(v, axis=2))):
        accepts(checks.check_ten_crops, answer)
        accepts(checks.check_ten_crops, answer, seed=3, num_images=3, image_size=9, crop_size=6, channels=1)


def test_ten_crops_hidden_test_sees_a_centre_row_off_by_one():
    """A margin of 3 rows gives the same centre for // 2 and // 3; the hidden test's margin of 6 does not."""
    thirds = crops_with(centre=lambda h, w, s: ((h - s) // 3, (w - s) // 2))
    rejects(checks.check_ten_crops, thirds, seed=5, num_images=2, image_size=10, crop_size=4, match="centre crop")
    accepts(checks.check_ten_crops, ensembles.ten_crops, seed=5, num_images=2, image_size=10, crop_size=4)


@pytest.mark.parametrize("label", list(CROPS_WRONG))
def test_ten_crops_rejects(label):
    wrong, words = CROPS_WRONG[label]
    kwargs = dict(channels=3) if label == "flip the last axis (channels)" else {}
    rejects(checks.check_ten_crops, wrong, match=words, **kwargs)


# ---------------------------------------------------------------------------- 8. ensemble scores
def report_with(accuracy=None, log_loss=None, combine=lambda m: m.mean(axis=0), ensemble_accuracy=None,
                ensemble_log_loss=None):
    accuracy = accuracy or (lambda p, y: np.mean((p > 0.5) == y))
    log_loss = log_loss or (lambda p, y: -np.mean(np.log(np.where(y == 1, p, 1 - p))))

    def answer(members, labels):
        members = np.asarray(members)
        ensemble = combine(members)
        return {"member_accuracy": np.array([accuracy(p, labels) for p in members]),
                "member_log_loss": np.array([log_loss(p, labels) for p in members]),
                "ensemble_accuracy": (ensemble_accuracy(members, labels) if ensemble_accuracy
                                      else accuracy(ensemble, labels)),
                "ensemble_log_loss": (ensemble_log_loss(members, labels) if ensemble_log_loss
                                      else log_loss(ensemble, labels))}
    return answer


def report_sklearn(members, labels):
    from sklearn.metrics import accuracy_score, log_loss
    members = np.asarray(members, dtype=np.float32)
    ensemble = members.mean(axis=0)
    return {"member_accuracy": [accuracy_score(labels, p > 0.5) for p in members],
            "member_log_loss": [log_loss(labels, p, labels=[0, 1]) for p in members],
            "ensemble_accuracy": accuracy_score(labels, ensemble > 0.5),
            "ensemble_log_loss": log_loss(labels, ensemble, labels=[0, 1])}


REPORT_WRONG = {
    "majority vote": (report_with(ensemble_accuracy=lambda m, y: np.mean(((m > 0.5).mean(axis=0) > 0.5) == y)),
                      "majority vote"),
    "mean of member accuracies": (report_with(ensemble_accuracy=lambda m, y: np.mean([(p > 0.5) == y for p in m])),
                                  "mean of the members' accuracies"),
    "mean of member log losses": (report_with(ensemble_log_loss=lambda m, y: np.mean(
        [-np.mean(np.log(np.where(y == 1, p, 1 - p))) for p in m])), "mean of the members' log losses"),
    "log10": (report_with(log_loss=lambda p, y: -np.mean(np.log10(np.where(y == 1, p, 1 - p)))), "log10"),
    "geometric mean": (report_with(combine=lambda m: np.exp(np.log(m).mean(axis=0))), "log probabilities"),
    "error rate": (report_with(accuracy=lambda p, y: np.mean((p > 0.5) != y)), "error rate"),
    "log of the probability of class 1 only": (report_with(log_loss=lambda p, y: -np.mean(np.log(p))),
                                               "wrong values"),
    "a tuple": (lambda m, y: tuple(report_with()(m, y).values()), "should return a dict"),
}


def test_ensemble_report_accepts_variants():
    for answer in (ensembles.ensemble_report, report_sklearn, report_with()):
        accepts(checks.check_ensemble_report, answer)
        accepts(checks.check_ensemble_report, answer, seed=6, num_models=1, num_examples=10)


@pytest.mark.parametrize("label", list(REPORT_WRONG))
def test_ensemble_report_rejects(label):
    wrong, words = REPORT_WRONG[label]
    rejects(checks.check_ensemble_report, wrong, match=words)


# ---------------------------------------------------------------------------- 9. cosine restarts
def cosine_loop(steps, initial, cycle):
    return [initial * (1 + math.cos(math.pi * (int(t) % cycle) / cycle)) / 2 for t in steps]


def cosine_keras(steps, initial, cycle):
    import keras
    schedule = keras.optimizers.schedules.CosineDecayRestarts(initial, cycle, t_mul=1.0)
    return np.array([float(schedule(int(t))) for t in steps])


COSINE_WRONG = {
    "no restart": (lambda steps, lr, b: lr * 0.5 * (1 + np.cos(np.pi * steps / len(steps))), "never restarts"),
    "one step ahead": (lambda steps, lr, b: ensembles.cosine_restarts(steps + 1, lr, b), "one step ahead"),
    "plain cosine": (lambda steps, lr, b: lr * np.cos(np.pi * (steps % b) / b), "negative"),
    "linear": (lambda steps, lr, b: lr * (1 - (steps % b) / b), "linear"),
    "no pi": (lambda steps, lr, b: lr * 0.5 * (1 + np.cos((steps % b) / b)), "pi"),
    "B - 1": (lambda steps, lr, b: lr * 0.5 * (1 + np.cos(np.pi * (steps % b) / (b - 1))), "cycle_steps - 1"),
    "integer division": (lambda steps, lr, b: lr * 0.5 * (1 + np.cos(np.pi * ((steps % b) // b))), "wrong values"),
}


def test_cosine_restarts_accepts_variants():
    for answer in (ensembles.cosine_restarts, cosine_loop, cosine_keras):
        accepts(checks.check_cosine_restarts, answer)
    accepts(checks.check_cosine_restarts, cosine_loop, seed=3, cycle_steps=1, num_steps=4)


@pytest.mark.parametrize("label", list(COSINE_WRONG))
def test_cosine_restarts_rejects(label):
    wrong, words = COSINE_WRONG[label]
    rejects(checks.check_cosine_restarts, wrong, match=words)


def test_every_check_is_graded_and_replayable():
    assert checks.TRUSTED_REPLAY
    public = [name for name in dir(checks) if name.startswith("check_")]
    assert len(public) >= 11
    assert all(getattr(getattr(checks, name), "graded_check", False) for name in public)


def test_inputs_with_nan_are_found_again_by_the_recheck():
    """A diverged run's nan in a check's inputs: the sketch stays comparable, and notices where the nan is."""
    from course_lib.checks import evidence
    losses = np.array([0.7, 0.5, np.nan, np.inf])
    ours = evidence.sketch((losses, 0.7))
    assert evidence.same_inputs(ours, evidence.sketch((losses * (1 + 1e-12), 0.7)))
    assert not evidence.same_inputs(ours, evidence.sketch((losses[[0, 2, 1, 3]], 0.7)))
    assert not evidence.same_inputs(ours, evidence.sketch((np.array([0.7, 0.5, 0.0, np.inf]), 0.7)))
    finite = np.array([0.7, 0.5])
    assert evidence.sketch(finite)["stats"] == evidence.sketch(finite.copy())["stats"]
    assert len(evidence.sketch(finite)["stats"]) == 4          # finite arrays are sketched as before
