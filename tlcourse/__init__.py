"""tlcourse: the helper package behind the transfer-learning course.

Importing it is cheap; the heavy pieces (torch, fastai) load in the modules that need them.
"""

import warnings

__version__ = "0.1.0"

# fastai 2.8 still calls torch.jit.script at import; the warning is not the learner's business.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)


def banner() -> str:
    """Print and return the one-line banner every lesson starts with."""
    from tlcourse.profiles import banner as _banner

    return _banner()
