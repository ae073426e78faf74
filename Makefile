# Two commands do all the set-up:  `make report`  and  `make test`.
# Both create .venv and install into it on first use; a rerun reinstalls nothing
# unless requirements.txt or pyproject.toml changed.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
KERNEL  := ucf101

PROFILE ?= demo
DATA    ?=
SPLITS  ?=
SPLIT   ?= 1
PROTOCOL ?=   # holdout or refit (default: the profile's; runs go to runs/<profile>-<protocol>)
GPUS    ?=   # GPUS=4: train and evaluate under torchrun, one process per GPU (per node under SLURM)
DOWNLOAD_WEIGHTS ?=
SMOKE   ?=   # SMOKE=1: a few steps on a few videos of DATA at the real sizes, then a forecast
WEIGHTS ?=   # the clip model's Kinetics file (default data/weights/r3d50_K_200ep.pth)
IMAGENET_WEIGHTS ?=
NORM    ?=
STORES  ?=
RUN     ?=
PYTEST_ARGS ?=
PRACTICE ?=   # PRACTICE=1: let `make submission` zip a demo, smoke or fast report on purpose
LAB_ARGS ?=   # e.g. LAB_ARGS="--no-browser --port 8888 --ip 0.0.0.0" on a GPU node

.PHONY: help venv system-deps report test test-fast lint lab submission clean

help:
	@echo "make report      run the main job (synthetic demo by default) and render report/report.pdf"
	@echo "                 real data: make report PROFILE=ucf101 DATA=/path/to/UCF-101 [WEIGHTS=...]"
	@echo "                 check it first: make report PROFILE=ucf101 DATA=... SMOKE=1"
	@echo "                 several GPUs: make report ... GPUS=4 (torchrun, one process per GPU)"
	@echo "make test        run the test suite"
	@echo "make lab         start JupyterLab with the project's kernel ($(KERNEL))"
	@echo "make submission  write the turn-in zip (report.pdf + code)"
	@echo "make lint        ruff"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "UCF-101 (project .venv)" >/dev/null
	touch $@

venv: $(STAMP)

# TeX, pandoc, poppler, unar: installed with apt-get when possible, else the command is printed.
system-deps:
	@bash scripts/system-deps.sh

report: $(STAMP) system-deps
	$(PY) -m helpers report --profile $(PROFILE) $(if $(DATA),--data $(DATA)) \
		--split $(SPLIT) $(if $(SPLITS),--splits $(SPLITS)) $(if $(RUN),--run $(RUN)) \
		$(if $(PROTOCOL),--protocol $(PROTOCOL)) $(if $(GPUS),--gpus $(GPUS)) \
		$(if $(DOWNLOAD_WEIGHTS),--download-weights) $(if $(SMOKE),--smoke) \
		$(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(IMAGENET_WEIGHTS),--imagenet-weights $(IMAGENET_WEIGHTS)) \
		$(if $(NORM),--norm $(NORM)) $(if $(STORES),--stores $(STORES))

test: $(STAMP) system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests

# The kernelspec is per user: register it again so it runs this clone's .venv.
lab: $(STAMP)
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "UCF-101 (project .venv)" >/dev/null
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

submission: $(STAMP)
	$(PY) -m helpers submission $(if $(PRACTICE),--practice)

clean:
	rm -rf runs figures/*.png figures/*.pdf report/*.pdf submission
