"""ipywidgets for the lessons: sliders and pickers that re-draw what a lesson measured."""

from __future__ import annotations


def freeze_slider(sweep):
    """A slider for k (stages frozen) showing the trainable parameters, accuracy and seconds the sweep measured."""
    import ipywidgets as widgets

    settings = sweep.settings()
    trainable, accuracy, seconds = (dict(zip(settings, sweep.mean(f)))
                                    for f in ("trainable_parameters", "accuracy", "seconds"))
    total = trainable[settings[0]]
    slider = widgets.IntSlider(value=settings[-1], min=settings[0], max=settings[-1], description="frozen stages")
    readout = widgets.HTML()

    def show(change=None):
        k = slider.value
        readout.value = (f"<b>{k}</b> of {settings[-1]} body stages frozen: <b>{int(trainable[k]):,}</b> of "
                         f"{int(total):,} parameters train ({100 * trainable[k] / total:.1f}%). "
                         f"Measured: accuracy <b>{accuracy[k]:.2f}</b> after <b>{seconds[k]:.1f} s</b> of training.")

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, readout])
