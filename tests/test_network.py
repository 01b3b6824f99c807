import http.server
import os
import socket
import threading
import time

import pytest

from tlcourse.assets import network
from tlcourse.assets.network import DownloadError, download, fetch_fastai


def test_unreachable_host_fails_at_once_naming_file_url_and_alternative(tmp_path):
    url = "https://no-such-host.invalid/weights/model-1234.pth"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as error:
        download(url, tmp_path / "model-1234.pth", alternative="use mobilenet_v2")
    assert time.perf_counter() - start < 10
    message = str(error.value)
    assert "model-1234.pth" in message and url in message and "use mobilenet_v2" in message


def test_a_silent_server_is_given_up_on_within_the_timeout(tmp_path):
    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/big.bin"
        start = time.perf_counter()
        with pytest.raises(DownloadError, match="big.bin"):
            download(url, tmp_path / "big.bin", timeout=1)
        assert time.perf_counter() - start < 5
    assert not (tmp_path / "big.bin").exists()


@pytest.fixture
def file_server(tmp_path):
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "weights.bin").write_bytes(b"real bytes")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "served"), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_the_hash(file_server, tmp_path):
    good = network.sha256_of(tmp_path / "served" / "weights.bin")
    path = download(f"{file_server}/weights.bin", tmp_path / "a" / "weights.bin", sha256=good)
    assert path.read_bytes() == b"real bytes"
    with pytest.raises(DownloadError, match="damaged"):
        download(f"{file_server}/weights.bin", tmp_path / "b" / "weights.bin", sha256="0" * 64)
    assert not (tmp_path / "b" / "weights.bin").exists()


def test_offline_hub_flag_is_set_when_the_hub_is_unreachable(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(network, "is_online", lambda host: False)
    network.use_offline_hubs()
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_fastai_archive_offline_fails_at_once_naming_the_alternative(monkeypatch):
    monkeypatch.setattr(network, "is_online", lambda host: False)
    with pytest.raises(DownloadError, match="awd_lstm's weights.*offline.*all-minilm-l6-v2"):
        fetch_fastai("WT103_FWD", c_key="model", what="awd_lstm's weights", alternative="all-minilm-l6-v2.")


def test_a_copy_fetched_earlier_is_used_again_only_if_it_still_has_its_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "is_online", lambda *a, **k: False)  # never fetched anew in this test
    copy = tmp_path / "weights-0a1b.bin"
    copy.write_bytes(b"real bytes")
    good = network.sha256_of(copy)
    assert download("http://example.invalid/weights.bin", copy, sha256=good) == copy
    assert download("http://example.invalid/weights.bin", copy, hash_prefix=good[:8]) == copy
    copy.write_bytes(b"damaged bytes")
    with pytest.raises(DownloadError, match="damaged or was replaced. Delete it"):
        download("http://example.invalid/weights.bin", copy, sha256=good)
    assert copy.read_bytes() == b"damaged bytes"  # left for the learner to look at, not deleted


def test_a_silent_fastai_server_is_given_up_on_within_the_timeout(tmp_path, monkeypatch):
    from fastai.data.external import URLs
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai"))
    monkeypatch.setattr(network, "is_online", lambda *a, **k: True)
    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr(URLs, "WT103_FWD", f"http://127.0.0.1:{server.getsockname()[1]}/wt103-fwd.tgz",
                            raising=False)
        start = time.perf_counter()
        with pytest.raises(DownloadError, match="wt103-fwd.tgz"):
            fetch_fastai("WT103_FWD", c_key="model", what="awd_lstm's weights", timeout=1)
        assert time.perf_counter() - start < 5
