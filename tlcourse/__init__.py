"""tlcourse: the helper package behind the transfer-learning course.

Importing it is cheap; the heavy pieces (torch, fastai) load in the modules that need them.

Which module each lesson uses (lesson NN's notebook imports `tlcourse.<module>`; a lesson in two notebooks has a line for
each, in order; all use `plots` and `report`):

    00  profiles, assets
    01  scratch_vs_pretrained  -- `predict` asks the trained model about new photos
    02  probing
    03  freezing
    04  heads
    05  recipes  -- also `make bench`
    06  advantages  -- FLOPs from `cost`
    07  model_choice, probing  -- model_choice scores with `transferability`; probing's model zoo table
    08  negative_transfer
    09  adaptation
    10  clustering
    12  quality_control  -- data from `data` (the solar_cells data set)
    13  detection  -- scenes from `assets.scenes` (the workbench data set)
    14  sentiment  -- MiniLM from `assets.text_models`, batches of token ids from `text_data`
    15  translation  -- message pairs from `text_data`
    16  speech  -- clips from `audio_data`, Whisper from `assets.speech_models`
    16  speech_tuning  -- part 2: Whisper in PyTorch, converted by `assets.whisper_conversion`
    17  compression  -- the student from `distillation`; ONNX export and int8 quantisation with ONNX Runtime
    18  distributed  -- also the training script that `torchrun` starts on several processes
    19  own_photos, app  -- the app is also served on its own by `make app` (Voila)

Shared by several lessons: `features` (frozen-body features, heads trained on them) and `feature_cache` (the
on-disk cache every feature extraction goes through; TLCOURSE_CACHE=off turns it off).
"""

import os
import sys
import warnings

__version__ = "0.1.0"

# OpenMP threads that busy-wait steal the cores from each other when the machine is shared (a browser, a
# video call, CI neighbours): one epoch took up to 22x longer, against 2.6x waiting passively; on a quiet
# machine passive waits cost a median 1.17x (`make bench`). OpenMP reads the setting once, when torch loads
# it, so it must be set before torch is imported; a learner's own setting wins.
WAIT_POLICY = "OMP_WAIT_POLICY"
_policy_was_set = WAIT_POLICY in os.environ
os.environ.setdefault(WAIT_POLICY, "PASSIVE")
if "torch" in sys.modules and not _policy_was_set:
    warnings.warn("torch was imported before tlcourse, so its threads may spin and run many times slower on a "
                  "busy machine. Fix: restart the kernel and `import tlcourse` first, or start Python/Jupyter "
                  "with OMP_WAIT_POLICY=PASSIVE set.", RuntimeWarning, stacklevel=2)

# numpy's and scikit-learn's BLAS (OpenBLAS) threads spin too. The course's BLAS work is small (logistic
# regressions on a few thousand rows, LogME), where one thread was 7-10x faster than two on a 2-core machine
# (lesson 09's self-training 7.0 -> 0.7-1.0 s); torch's own kernels are not affected. A learner's own setting wins.
BLAS_THREADS = "OPENBLAS_NUM_THREADS"
_blas_was_set = BLAS_THREADS in os.environ
os.environ.setdefault(BLAS_THREADS, "1")
if "numpy" in sys.modules and not _blas_was_set:  # too late for the variable: OpenBLAS read it when numpy loaded
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, user_api="blas")

# fastai 2.8 still calls torch.jit.script at import; the warning is not the learner's business.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)


def banner() -> str:
    """Print and return the one-line banner every lesson starts with."""
    from tlcourse.profiles import banner as _banner

    return _banner()
