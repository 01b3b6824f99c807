"""Lesson 19's app: a photo classifier trained from photos uploaded in the page, in a notebook or standalone.

`PhotoApp` is a few ipywidgets: a name and an upload button per class, Train (fastai `fine_tune` of a small
pretrained backbone, with a progress bar), the accuracy on held-out photos and the confusion matrix, then an upload
button to try a new photo. `make app` serves it as a web page with Voila (app/photo_app.ipynb). Uploads are
checked one by one and every problem becomes a message in the page: files are stored under names the app makes
(an uploaded file's name never becomes a path), in a temporary folder the app deletes when it closes.
"""

from __future__ import annotations

import html
import io
import logging
import random
import re
import shutil
import socket
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

from fastai.callback.core import Callback

from tlcourse.errors import DataError

MAX_PHOTO_MB = 20  # a bigger file is refused: a phone photo is 2-8 MB
MAX_PHOTOS_PER_CLASS = 100  # more are sampled down to this, to keep training under a minute on a laptop
MAX_UPLOAD_MB = 256  # what one upload (a whole selection of files) may carry; a larger one drops the connection
MAX_SIDE = 512  # photos are shrunk to this many pixels on their longer side as they arrive (training uses 128)
CLASS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,29}")  # also the name of the class's folder
RESERVED_NAMES = {"train", "valid"}  # folder names the course's loaders read as a split, not a class
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppSettings:
    """What the app trains: backbone, image size, epochs (about 20 photos per class train in under a minute on
    a laptop CPU with these)."""

    model: str = "efficientnet_lite0"
    image_size: int = 128
    epochs: int = 4
    batch_size: int = 8
    seed: int = 0


def read_photo(name: str, content: bytes):
    """An uploaded file as an RGB PIL image at most MAX_SIDE pixels wide and high, or a DataError saying why it
    cannot be used."""
    from PIL import Image, UnidentifiedImageError
    size_mb = len(content) / 1e6
    if size_mb > MAX_PHOTO_MB:
        raise DataError(f"{name}: {size_mb:.0f} MB is over the app's {MAX_PHOTO_MB} MB limit; use a smaller copy.")
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # a JPEG decodes at a reduced size: faster, less memory
            photo = image.convert("RGB")
            photo.thumbnail((MAX_SIDE, MAX_SIDE))
            return photo
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{name}: not an image this app can read ({type(error).__name__}); upload JPEG or PNG "
                        "photos.") from None


class PhotoStore:
    """The uploaded photos of each class, saved as class/NNNN.png in a temporary folder."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="tlcourse-app-"))
        self.photos: dict[int, list] = {}  # class index -> RGB images
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)  # also when a kernel just exits

    def add(self, index: int, files: list[tuple[str, bytes]]) -> tuple[list[str], list[str]]:
        """Add uploaded (name, bytes) files to class `index`. Returns (problems: a message per file refused,
        notes: one if the class had more photos than MAX_PHOTOS_PER_CLASS and was sampled down)."""
        photos = self.photos.setdefault(index, [])
        room = MAX_PHOTOS_PER_CLASS - len(photos)
        chosen = files if len(files) <= room else random.Random(0).sample(files, max(room, 0))
        problems = []
        for name, content in chosen:
            try:
                photos.append(read_photo(name, content))
            except DataError as error:
                problems.append(str(error))
        notes = [] if len(chosen) == len(files) else [
            f"{len(files)} files for one class: kept a sample of {len(chosen)}, as the app trains on at most "
            f"{MAX_PHOTOS_PER_CLASS} photos per class (to stay under a minute on a laptop)."]
        return problems, notes

    def write(self, names: list[str]) -> Path:
        """Write the photos of the classes named `names` (in index order) to a fresh folder to train on."""
        for name in names:
            if not CLASS_NAME.fullmatch(name) or name.casefold() in RESERVED_NAMES:
                raise DataError(f"Class name {name!r}: use 1-30 letters, digits, spaces, - or _, starting with a "
                                f"letter or digit (and not {' or '.join(sorted(RESERVED_NAMES))}).")
        if len({name.casefold() for name in names}) < len(names):
            raise DataError("Two classes have the same name: give each class its own name.")
        counts = {name: len(self.photos.get(index, [])) for index, name in enumerate(names)}
        filled = [name for name, n in counts.items() if n]
        if len(filled) < 2:
            raise DataError("Upload photos for at least two classes first (one class cannot be told from nothing).")
        few = [f"{name} ({n})" for name, n in counts.items() if n < 2]
        if few:
            raise DataError(f"Each class needs at least 2 photos, one to learn from and one to check with: add "
                            f"photos to {', '.join(few)}.")
        shutil.rmtree(self.folder / "photos", ignore_errors=True)
        for index, name in enumerate(names):
            target = self.folder / "photos" / name
            target.mkdir(parents=True)
            for number, image in enumerate(self.photos[index]):
                image.save(target / f"{number:04d}.png")
        return self.folder / "photos"

    def close(self) -> None:
        """Delete the temporary folder."""
        self._cleanup()


class EpochProgress(Callback):
    """Moves an ipywidgets progress bar one step after each epoch."""

    def __init__(self, bar):
        self.bar = bar

    def after_epoch(self):
        self.bar.value = min(self.bar.max, self.bar.value + 1)


def _upload_files(upload) -> list[tuple[str, bytes]]:
    return [(str(item["name"]), bytes(item["content"])) for item in upload.value]


class PhotoApp:
    """The app's widgets and what they do. In a notebook, put `PhotoApp()` last in a cell to show it."""

    def __init__(self, classes: int = 2, settings: AppSettings | None = None):
        import ipywidgets as widgets
        self.settings = settings or AppSettings()
        self.store = PhotoStore()
        self.result = None
        self.names = [widgets.Text(value=f"class {i + 1}", description=f"Class {i + 1}:") for i in range(classes)]
        self.uploads = [widgets.FileUpload(accept="image/*", multiple=True, description="Upload photos")
                        for _ in range(classes)]
        self.counts = [widgets.Label("no photos yet") for _ in range(classes)]
        for index, upload in enumerate(self.uploads):
            upload.add_class(f"tl-upload-{index}")
            upload.observe(lambda change, index=index: self._on_upload(index), names="value")
        self.train_button = widgets.Button(description="Train", button_style="primary")
        self.train_button.add_class("tl-train")
        self.train_button.on_click(lambda _: self._on_train())
        self.progress = widgets.IntProgress(value=0, min=0, max=self.settings.epochs, description="Epochs:")
        self.status = widgets.HTML(f"Upload photos for each class (up to {MAX_UPLOAD_MB} MB at a time: select "
                                   "fewer files at once for more), then press Train.")
        self.status.add_class("tl-status")
        self.results = widgets.Output()
        self.try_upload = widgets.FileUpload(accept="image/*", multiple=False, description="Try a photo",
                                             disabled=True)
        self.try_upload.add_class("tl-try")
        self.try_upload.observe(lambda change: self._on_try(), names="value")
        self.answer = widgets.HTML("")
        self.answer.add_class("tl-answer")
        rows = [widgets.HBox([name, upload, count]) for name, upload, count in
                zip(self.names, self.uploads, self.counts)]
        self.widget = widgets.VBox([*rows,
                                    widgets.HBox([self.train_button, self.progress]), self.status, self.results,
                                    widgets.HBox([self.try_upload, self.answer])])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def _say(self, text: str, problem: bool = False) -> None:
        colour = "#b00020" if problem else "inherit"
        lines = "<br>".join(html.escape(line) for line in text.splitlines())
        self.status.value = f'<span style="color:{colour}">{lines}</span>'

    def add_photos(self, index: int, files: list[tuple[str, bytes]]) -> list[str]:
        """Add uploaded (name, bytes) files to class `index` and show what was refused."""
        problems, notes = self.store.add(index, files)
        self.counts[index].value = f"{len(self.store.photos.get(index, []))} photos"
        self._say("\n".join(problems + notes) if problems or notes else "Photos added.", problem=bool(problems))
        return problems + notes

    def train(self):
        """Train on the uploaded photos; show accuracy and the confusion matrix. Returns the Result, or None
        after showing what to fix."""
        from tlcourse.data import image_dataloaders
        from tlcourse.assets.models import get_model_spec
        from tlcourse.own_photos import interpretation
        from tlcourse.train import fine_tune
        try:
            folder = self.store.write([name.value.strip() for name in self.names])
            self._say(f"Training {self.settings.model} on {sum(map(len, self.store.photos.values()))} photos ...")
            self.progress.value = 0
            dls = image_dataloaders(folder, self.settings.image_size, self.settings.batch_size,
                                    seed=self.settings.seed, stats=get_model_spec(self.settings.model).stats)
            result = fine_tune(dls, self.settings.model, self.settings.epochs, seed=self.settings.seed,
                               callbacks=(EpochProgress(self.progress),))
        except DataError as error:
            self._say(str(error), problem=True)
            return None
        except Exception as error:  # noqa: BLE001  the page must show a message, never a traceback
            log.exception("training failed")
            self._say(f"Training failed: {error}. Check the photos and press Train again.", problem=True)
            return None
        self.result = result
        self._say(f"Done in {result.seconds:.0f} s: accuracy on held-out photos {result.accuracy:.2f} "
                  f"({len(dls.valid_ds)} photos the model did not train on).")
        self.results.clear_output()
        with self.results:
            import matplotlib.pyplot as plt
            with result.learner.no_bar():  # fastai computes the matrix's predictions here
                interpretation(result).plot_confusion_matrix(figsize=(3.5, 3.5))
            plt.show()
        self.try_upload.disabled = False
        return result

    def predict_photo(self, name: str, content: bytes) -> str:
        """The trained model's answer for one uploaded photo, as shown in the page."""
        from tlcourse.predict import predict
        if self.result is None:
            raise DataError("Train the model first.")
        prediction = predict(self.result, read_photo(name, content))
        return f"{prediction.label} ({prediction.probability:.0%})"

    def close(self) -> None:
        """Delete the uploaded photos and close the widgets."""
        self.store.close()
        self.widget.close()

    def _on_upload(self, index: int) -> None:
        files = _upload_files(self.uploads[index])
        if files:
            self.uploads[index].value = ()  # the page keeps no second copy of the uploads
            self.add_photos(index, files)

    def _on_train(self) -> None:
        self.train_button.disabled = True
        try:
            self.train()
        finally:
            self.train_button.disabled = False

    def _on_try(self) -> None:
        files = _upload_files(self.try_upload)
        if not files:
            return
        try:
            self.answer.value = f"<b>Prediction: {html.escape(self.predict_photo(*files[0]))}</b>"
        except DataError as error:
            self._say(str(error), problem=True)
        except Exception as error:  # noqa: BLE001  a message in the page, never a traceback
            log.exception("prediction failed")
            self._say(f"Could not classify that photo: {error}.", problem=True)


APP_NOTEBOOK = Path(__file__).resolve().parent.parent / "app" / "photo_app.ipynb"


def serve(port: int = 8866, host: str = "127.0.0.1", token: str | None = None) -> None:
    """Serve the app with Voila at http://host:port/ (localhost only unless `host` says otherwise), behind a
    token (a new random one unless given), until Ctrl+C."""
    import secrets

    from traitlets.config import Config
    from voila.app import Voila
    if not APP_NOTEBOOK.is_file():
        raise DataError(f"The app's notebook {APP_NOTEBOOK} is missing: run from a clone of the course.")
    config = Config()
    config.Voila.token = token or secrets.token_urlsafe(16)  # in the config, not the command line `ps` shows
    config.Voila.ip = host
    config.Voila.port = port
    config.Voila.port_retries = 0  # a busy port is an error, not a different address than the one printed
    config.Voila.open_browser = False
    config.Voila.tornado_settings = {"websocket_max_message_size": MAX_UPLOAD_MB * 2**20}
    address = "localhost" if host in ("127.0.0.1", "localhost") else socket.gethostname()
    print(f"Open http://{address}:{port}/?token={config.Voila.token} in a browser (Ctrl+C stops the app).",
          flush=True)
    Voila.launch_instance(argv=[str(APP_NOTEBOOK)], config=config)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Serve the course's photo classifier app (Voila).")
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let other computers in (a class server)")
    arguments = parser.parse_args()
    serve(arguments.port, arguments.host)
