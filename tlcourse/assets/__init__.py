"""Course assets: pretrained models, data sets, and the one module that downloads."""
