from tlcourse.freezing import Sweep, SweepPoint
from tlcourse.widgets import freeze_slider


def test_freeze_slider_reads_out_what_the_sweep_measured():
    sweep = Sweep("stages frozen", [SweepPoint(k, 1000 - 150 * k, 0.5 + 0.05 * k, 10.0 - k, 0) for k in range(6)])
    box = freeze_slider(sweep)
    slider, readout = box.children
    assert slider.value == 5 and "<b>250</b> of 1,000" in readout.value and "0.75" in readout.value
    slider.value = 0
    assert "<b>1,000</b> of 1,000" in readout.value and "10.0 s" in readout.value
